#!/usr/bin/env node
// Compiles contracts/src/*.sol (and the helpers of tests and benchmarks in contracts/test/*.sol
// and contracts/bench/*.sol) with the pinned solc-js into deterministic JSON artifacts.
//
//   node compile.mjs          write build/<Name>.json (and build/test/<Name>.json)
//   node compile.mjs --check  compile into a temp dir; exit 1 naming every stale artifact
//
// Determinism: no metadata hash or CBOR trailer in the bytecode, keys sorted at every level,
// two-space indentation, trailing newline. sourceHash is the sha256 (hex) over the source units
// sorted by path, each contributing `<path>\0<content>\0`, where path is relative to contracts/.

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const ROOT = path.dirname(fileURLToPath(import.meta.url));
const BUILD = path.join(ROOT, "build");

// Each group is its own compilation so that editing a test helper never changes the sourceHash
// of the production artifacts (codegen stamps that hash into generated code).
const GROUPS = [
  { src: "src", out: "." },
  { src: "test", out: "test" },
  { src: "bench", out: "bench" },
];

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  // paris: no PUSH0 and no Cancun opcodes, so the bytecode runs on TRON's TVM as well as py-evm.
  evmVersion: "paris",
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function compilerVersion() {
  // "0.8.28+commit.7893614a.Emscripten.clang" -> "0.8.28+commit.7893614a": the platform suffix
  // says how solc-js was built, not what it produces.
  const m = /^(\d+\.\d+\.\d+\+commit\.[0-9a-f]+)/.exec(solc.version());
  return m ? m[1] : solc.version();
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys(value[k])]),
    );
  }
  return value;
}

function compileGroup(group) {
  const dir = path.join(ROOT, group.src);
  if (!fs.existsSync(dir)) return new Map();
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".sol"))
    .sort();
  const sources = {};
  const hash = createHash("sha256");
  for (const f of files) {
    const unit = `${group.src}/${f}`;
    const content = fs.readFileSync(path.join(dir, f), "utf8");
    sources[unit] = { content };
    hash.update(`${unit}\0${content}\0`);
  }
  const sourceHash = hash.digest("hex");
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));

  let failed = false;
  for (const e of output.errors ?? []) {
    process.stderr.write(`${e.formattedMessage ?? e.message}\n`);
    if (e.severity === "error") failed = true;
  }
  if (failed) {
    process.stderr.write(`compilation of ${group.src}/*.sol failed\n`);
    process.exit(1);
  }

  const version = compilerVersion();
  const artifacts = new Map();
  for (const unit of Object.keys(output.contracts ?? {}).sort()) {
    for (const [name, c] of Object.entries(output.contracts[unit])) {
      // Interfaces and abstract bases have no bytecode: they are not deployable artifacts.
      if (!c.evm.bytecode.object) continue;
      const rel = path.join(group.out, `${name}.json`);
      if (artifacts.has(rel)) {
        process.stderr.write(`two contracts named ${name} in ${group.src}/: names must be unique\n`);
        process.exit(1);
      }
      const artifact = {
        contractName: name,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        compiler: { name: "solc", version },
        sourceHash,
      };
      artifacts.set(rel, `${JSON.stringify(sortKeys(artifact), null, 2)}\n`);
    }
  }
  return artifacts;
}

function compileAll() {
  const all = new Map();
  for (const group of GROUPS) for (const [rel, text] of compileGroup(group)) all.set(rel, text);
  return all;
}

function listJson(root) {
  const found = [];
  for (const group of GROUPS) {
    const dir = path.join(root, group.out);
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir)) {
      if (f.endsWith(".json")) found.push(path.join(group.out, f));
    }
  }
  return found.sort();
}

function write(root, artifacts) {
  for (const [rel, text] of artifacts) {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }
  // Drop artifacts of contracts that no longer exist, so build/ mirrors the sources exactly.
  for (const rel of listJson(root)) {
    if (!artifacts.has(rel)) fs.rmSync(path.join(root, rel));
  }
}

function check(artifacts) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dcmx-contracts-"));
  try {
    write(tmp, artifacts);
    const fresh = listJson(tmp);
    const committed = listJson(BUILD);
    const stale = [];
    for (const rel of new Set([...fresh, ...committed])) {
      const a = path.join(tmp, rel);
      const b = path.join(BUILD, rel);
      if (!fs.existsSync(b)) stale.push(`${rel} (missing from build/)`);
      else if (!fs.existsSync(a)) stale.push(`${rel} (no longer produced by the sources)`);
      else if (!fs.readFileSync(a).equals(fs.readFileSync(b))) stale.push(`${rel} (differs)`);
    }
    if (stale.length) {
      process.stderr.write(
        `contracts/build/ is stale; run \`npm --prefix contracts run build\`:\n` +
          stale.sort().map((s) => `  build/${s}\n`).join(""),
      );
      process.exit(1);
    }
    process.stdout.write(`contracts/build/ is up to date (${fresh.length} artifacts)\n`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const artifacts = compileAll();
if (process.argv.includes("--check")) {
  check(artifacts);
} else {
  write(BUILD, artifacts);
  process.stdout.write(`wrote ${artifacts.size} artifacts to contracts/build/\n`);
}
