// Sign in with a wallet: TronLink (tronWeb.trx.signMessageV2: TRON's signed-message format)
// or an EVM wallet (window.ethereum, personal_sign: EIP-191). The service checks the
// signature (POST /api/v1/auth/login) and the token goes into a cookie only pages read.
(function () {
  "use strict";
  var root = document.getElementById("sign-in");
  if (!root) return;
  var status = document.getElementById("sign-in-status");

  function say(text, bad) {
    status.textContent = text;  // text only: nothing from a wallet or the server becomes HTML
    status.classList.toggle("bad", !!bad);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.message || ("the service answered " + r.status));
        return data;
      });
    });
  }

  function hex(text) {
    var bytes = new TextEncoder().encode(text), out = "0x";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  async function tron() {
    var link = window.tronLink;
    if (link && typeof link.request === "function") {
      // TronLink asks the user to let this site see the account; 200 means allowed.
      var answer = await link.request({method: "tron_requestAccounts"});
      if (answer && answer.code && answer.code !== 200) {
        throw new Error(answer.message || "TronLink did not connect this site");
      }
    }
    var web = (link && link.tronWeb) || window.tronWeb;
    if (!web || !web.defaultAddress || !web.defaultAddress.base58) {
      throw new Error("no TronLink account: install or unlock TronLink and allow this site");
    }
    if (!web.trx || typeof web.trx.signMessageV2 !== "function") {
      throw new Error("this TronLink cannot sign messages (signMessageV2): update it");
    }
    return {wallet: web.defaultAddress.base58,
            sign: function (message) { return web.trx.signMessageV2(message); }};
  }

  async function evm() {
    var eth = window.ethereum;
    if (!eth || typeof eth.request !== "function") {
      throw new Error("no browser wallet found (window.ethereum)");
    }
    var accounts = await eth.request({method: "eth_requestAccounts"});
    var wallet = accounts && accounts[0];
    if (!wallet) throw new Error("the wallet shared no account");
    return {wallet: wallet, sign: function (message) {
      return eth.request({method: "personal_sign", params: [hex(message), wallet]});
    }};
  }

  async function signIn(kind, button) {
    var buttons = root.querySelectorAll("button[data-wallet]");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    try {
      say("Asking the wallet for its account…");
      var w = kind === "tron" ? await tron() : await evm();
      var challenge = await post("/api/v1/auth/nonce", {wallet: w.wallet});
      say("Sign the message in your wallet…");
      var signature = await w.sign(challenge.message);
      if (typeof signature !== "string") throw new Error("the wallet gave no signature");
      var login = await post("/api/v1/auth/login",
                             {wallet: w.wallet, nonce: challenge.nonce, signature: signature});
      try { window.sessionStorage.setItem("dcmx.token", login.token); } catch (e) { /* private mode */ }
      var session = await post("/session", {token: login.token});
      say("Signed in as " + login.wallet + ".");
      window.location.assign(session.next);
    } catch (e) {
      say("Sign-in failed: " + (e && e.message ? e.message : String(e)), true);
      for (var j = 0; j < buttons.length; j++) buttons[j].disabled = false;
      button.focus();
    }
  }

  var choices = root.querySelectorAll("button[data-wallet]");
  for (var k = 0; k < choices.length; k++) {
    (function (b) {
      b.addEventListener("click", function () { signIn(b.getAttribute("data-wallet"), b); });
    })(choices[k]);
  }
})();
