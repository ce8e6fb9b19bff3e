"""ComplianceRegistry: documents, acceptances, deletion requests, KYC, audit trail, events."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from sol_helpers import only_event, reverts, role

from dcmx_plugins.devchain import Devchain

ADMIN = role("DEFAULT_ADMIN_ROLE")
OFFICER = role("COMPLIANCE_OFFICER_ROLE")
ZERO = "0x" + "00" * 20
TOS, PRIVACY = 0, 1
TOS_HASH = keccak(text="terms v1")
# AuditAction and status enums, as declared in the contract
ACCEPTANCE, DELETION_REQUESTED, DELETION_APPROVED, DELETION_REJECTED, KYC_CHANGED = range(5)
PENDING, APPROVED, REJECTED = 1, 2, 3


@pytest.fixture(scope="module")
def deployment(chain: Devchain):
    registry = chain.deploy("ComplianceRegistry")
    chain.transact(registry.functions.grantRole(OFFICER, chain.accounts[1]))
    chain.transact(registry.functions.publishDocument(TOS, "1.0", TOS_HASH))
    return registry


@pytest.fixture(scope="module")
def reg(deployment):
    return deployment


@pytest.fixture(scope="module")
def who(chain: Devchain):
    admin, officer, alice, bob = chain.accounts[:4]
    return type("Who", (), dict(admin=admin, officer=officer, alice=alice, bob=bob))


def timestamp(chain, receipt) -> int:
    return chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def test_publish_document(chain, reg, who):
    doc_hash = keccak(text="privacy v2")
    receipt = chain.transact(reg.functions.publishDocument(PRIVACY, "2024-06", doc_hash))
    assert only_event(receipt, reg, "DocumentPublished") == {
        "docType": PRIVACY, "version": "2024-06", "docHash": doc_hash, "publisher": who.admin,
        "timestamp": timestamp(chain, receipt),
    }
    assert reg.functions.getDocument(PRIVACY, "2024-06").call() == (
        doc_hash, timestamp(chain, receipt))
    assert reg.functions.getDocument(PRIVACY, "2024-07").call() == (b"\x00" * 32, 0)


def test_publish_document_failures(chain, reg, who):
    with reverts(reg, "MissingRole", ADMIN, who.officer):
        chain.transact(reg.functions.publishDocument(PRIVACY, "1", TOS_HASH), who.officer)
    with reverts(reg, "DocumentAlreadyPublished", TOS, "1.0"):
        chain.transact(reg.functions.publishDocument(TOS, "1.0", keccak(text="other")))
    with reverts(reg, "EmptyVersion"):
        chain.transact(reg.functions.publishDocument(TOS, "", TOS_HASH))
    with reverts(reg, "EmptyDocHash"):
        chain.transact(reg.functions.publishDocument(TOS, "2.0", b"\x00" * 32))


def test_record_and_verify_acceptance(chain, reg, who):
    assert not reg.functions.verifyAcceptance(who.alice, TOS, "1.0").call()
    receipt = chain.transact(reg.functions.recordAcceptance(TOS, "1.0"), who.alice)
    ts = timestamp(chain, receipt)
    assert only_event(receipt, reg, "AcceptanceRecorded") == {
        "user": who.alice, "docType": TOS, "version": "1.0", "docHash": TOS_HASH, "timestamp": ts,
    }
    assert reg.functions.verifyAcceptance(who.alice, TOS, "1.0").call()
    assert not reg.functions.verifyAcceptance(who.bob, TOS, "1.0").call()
    assert not reg.functions.verifyAcceptance(who.alice, TOS, "1.1").call()
    assert not reg.functions.verifyAcceptance(who.alice, PRIVACY, "1.0").call()
    assert reg.functions.getAuditTrail(who.alice).call() == [
        (ACCEPTANCE, TOS, "1.0", TOS_HASH, 0, 0, ts)]


def test_acceptance_failures(chain, reg, who):
    with reverts(reg, "DocumentNotPublished", TOS, "9.9"):
        chain.transact(reg.functions.recordAcceptance(TOS, "9.9"), who.alice)
    with reverts(reg, "DocumentNotPublished", PRIVACY, "1.0"):
        chain.transact(reg.functions.recordAcceptance(PRIVACY, "1.0"), who.alice)
    chain.transact(reg.functions.recordAcceptance(TOS, "1.0"), who.alice)
    with reverts(reg, "AlreadyAccepted", who.alice, TOS, "1.0"):
        chain.transact(reg.functions.recordAcceptance(TOS, "1.0"), who.alice)


def test_deletion_request_lifecycle(chain, reg, who):
    receipt = chain.transact(reg.functions.requestDataDeletion("leaving"), who.alice)
    ts1 = timestamp(chain, receipt)
    assert only_event(receipt, reg, "DeletionRequested") == {
        "requestId": 1, "user": who.alice, "reason": "leaving", "timestamp": ts1,
    }
    assert reg.functions.pendingDeletionRequest(who.alice).call() == 1
    assert reg.functions.deletionRequestCount().call() == 1
    with reverts(reg, "DeletionAlreadyPending", who.alice, 1):
        chain.transact(reg.functions.requestDataDeletion("again"), who.alice)

    receipt = chain.transact(reg.functions.processDeletionRequest(1, False))
    ts2 = timestamp(chain, receipt)
    assert only_event(receipt, reg, "DeletionProcessed") == {
        "requestId": 1, "user": who.alice, "approved": False, "processor": who.admin,
        "timestamp": ts2,
    }
    assert reg.functions.getDeletionRequest(1).call() == (who.alice, REJECTED, ts1, ts2, "leaving")
    assert reg.functions.pendingDeletionRequest(who.alice).call() == 0
    with reverts(reg, "DeletionAlreadyProcessed", 1, REJECTED):
        chain.transact(reg.functions.processDeletionRequest(1, True))

    receipt = chain.transact(reg.functions.requestDataDeletion(""), who.alice)
    assert only_event(receipt, reg, "DeletionRequested")["requestId"] == 2
    receipt = chain.transact(reg.functions.processDeletionRequest(2, True))
    ts4 = timestamp(chain, receipt)
    assert reg.functions.getDeletionRequest(2).call()[1] == APPROVED
    assert [(e[0], e[4]) for e in reg.functions.getAuditTrail(who.alice).call()] == [
        (DELETION_REQUESTED, 1), (DELETION_REJECTED, 1), (DELETION_REQUESTED, 2),
        (DELETION_APPROVED, 2),
    ]
    assert reg.functions.getAuditTrail(who.alice).call()[-1][6] == ts4


def test_deletion_processing_failures(chain, reg, who):
    with reverts(reg, "DeletionRequestNotFound", 1):
        chain.transact(reg.functions.processDeletionRequest(1, True))
    chain.transact(reg.functions.requestDataDeletion("x"), who.alice)
    with reverts(reg, "MissingRole", ADMIN, who.officer):
        chain.transact(reg.functions.processDeletionRequest(1, True), who.officer)


def test_kyc_status(chain, reg, who):
    receipt = chain.transact(reg.functions.setKycStatus(who.alice, 2), who.officer)
    ts = timestamp(chain, receipt)
    assert only_event(receipt, reg, "KycStatusChanged") == {
        "wallet": who.alice, "previousStatus": 0, "newStatus": 2, "officer": who.officer,
        "timestamp": ts,
    }
    assert reg.functions.kycStatus(who.alice).call() == 2
    receipt = chain.transact(reg.functions.setKycStatus(who.alice, 4), who.officer)
    assert only_event(receipt, reg, "KycStatusChanged")["previousStatus"] == 2
    trail = reg.functions.getAuditTrail(who.alice).call()
    assert [(e[0], e[5]) for e in trail] == [(KYC_CHANGED, 2), (KYC_CHANGED, 4)]


def test_kyc_failures(chain, reg, who):
    # Even the admin needs the officer role: separation of duties.
    with reverts(reg, "MissingRole", OFFICER, who.admin):
        chain.transact(reg.functions.setKycStatus(who.alice, 1))
    with reverts(reg, "InvalidKycStatus", 5):
        chain.transact(reg.functions.setKycStatus(who.alice, 5), who.officer)
    with reverts(reg, "ZeroAddress"):
        chain.transact(reg.functions.setKycStatus(ZERO, 1), who.officer)


def test_audit_trail_of_stranger_is_empty(reg, who):
    assert reg.functions.getAuditTrail(who.bob).call() == []
