// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "./AccessControl.sol";

/// @title Legal documents, users' acceptances, data-deletion requests and KYC status.
/// @notice Document types are small integers agreed off-chain (0 terms of service, 1 privacy
/// policy, 2 cookie policy, ...); versions are free-form strings such as "2024-06". Each event
/// carries the values it changed, including timestamps, so the compliance index needs no calls.
contract ComplianceRegistry is AccessControl {
    bytes32 public constant COMPLIANCE_OFFICER_ROLE = keccak256("COMPLIANCE_OFFICER_ROLE");

    enum DeletionStatus {
        None,
        Pending,
        Approved,
        Rejected
    }

    enum KycStatus {
        None,
        Pending,
        Verified,
        Rejected,
        Revoked
    }

    enum AuditAction {
        Acceptance,
        DeletionRequested,
        DeletionApproved,
        DeletionRejected,
        KycStatusChanged
    }

    struct Document {
        bytes32 docHash;
        uint64 publishedAt;
    }

    struct DeletionRequest {
        address user;
        DeletionStatus status;
        uint64 requestedAt;
        uint64 processedAt;
        string reason;
    }

    /// @notice One entry of a user's audit trail. Fields that do not apply to `action` are zero:
    /// docType/version/docHash for acceptances, requestId for deletions, kycStatus for KYC.
    struct AuditEntry {
        AuditAction action;
        uint8 docType;
        string version;
        bytes32 docHash;
        uint256 requestId;
        uint8 kycStatus;
        uint256 timestamp;
    }

    mapping(uint8 docType => mapping(bytes32 versionKey => Document)) private _documents;
    mapping(address user => mapping(uint8 docType => mapping(bytes32 versionKey => uint256))) private
        _acceptedAt;
    mapping(uint256 requestId => DeletionRequest) private _requests;
    mapping(address user => uint256) public pendingDeletionRequest;
    mapping(address user => AuditEntry[]) private _audit;
    mapping(address wallet => KycStatus) public kycStatus;
    uint256 public deletionRequestCount;

    event DocumentPublished(
        uint8 indexed docType, string version, bytes32 docHash, address indexed publisher, uint256 timestamp
    );
    event AcceptanceRecorded(
        address indexed user, uint8 indexed docType, string version, bytes32 docHash, uint256 timestamp
    );
    event DeletionRequested(uint256 indexed requestId, address indexed user, string reason, uint256 timestamp);
    event DeletionProcessed(
        uint256 indexed requestId, address indexed user, bool approved, address indexed processor, uint256 timestamp
    );
    event KycStatusChanged(
        address indexed wallet, uint8 previousStatus, uint8 newStatus, address indexed officer, uint256 timestamp
    );

    error EmptyVersion();
    error EmptyDocHash();
    error DocumentAlreadyPublished(uint8 docType, string version);
    error DocumentNotPublished(uint8 docType, string version);
    error AlreadyAccepted(address user, uint8 docType, string version);
    error DeletionAlreadyPending(address user, uint256 requestId);
    error DeletionRequestNotFound(uint256 requestId);
    error DeletionAlreadyProcessed(uint256 requestId, DeletionStatus status);
    error InvalidKycStatus(uint8 status);

    constructor() AccessControl(msg.sender) {}

    function publishDocument(uint8 docType, string calldata version, bytes32 docHash)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (bytes(version).length == 0) revert EmptyVersion();
        if (docHash == bytes32(0)) revert EmptyDocHash();
        Document storage doc = _documents[docType][keccak256(bytes(version))];
        if (doc.publishedAt != 0) revert DocumentAlreadyPublished(docType, version);
        doc.docHash = docHash;
        doc.publishedAt = uint64(block.timestamp);
        emit DocumentPublished(docType, version, docHash, msg.sender, block.timestamp);
    }

    function recordAcceptance(uint8 docType, string calldata version) external {
        bytes32 key = keccak256(bytes(version));
        Document storage doc = _documents[docType][key];
        if (doc.publishedAt == 0) revert DocumentNotPublished(docType, version);
        if (_acceptedAt[msg.sender][docType][key] != 0) revert AlreadyAccepted(msg.sender, docType, version);
        _acceptedAt[msg.sender][docType][key] = block.timestamp;
        _audit[msg.sender].push(
            AuditEntry(AuditAction.Acceptance, docType, version, doc.docHash, 0, 0, block.timestamp)
        );
        emit AcceptanceRecorded(msg.sender, docType, version, doc.docHash, block.timestamp);
    }

    /// @notice Asks the platform to erase the caller's off-chain personal data. One open request
    /// per user, so the processing queue cannot be flooded by one account.
    function requestDataDeletion(string calldata reason) external returns (uint256 requestId) {
        uint256 open = pendingDeletionRequest[msg.sender];
        if (open != 0) revert DeletionAlreadyPending(msg.sender, open);
        requestId = ++deletionRequestCount;
        _requests[requestId] = DeletionRequest(msg.sender, DeletionStatus.Pending, uint64(block.timestamp), 0, reason);
        pendingDeletionRequest[msg.sender] = requestId;
        _audit[msg.sender].push(
            AuditEntry(AuditAction.DeletionRequested, 0, "", bytes32(0), requestId, 0, block.timestamp)
        );
        emit DeletionRequested(requestId, msg.sender, reason, block.timestamp);
    }

    function processDeletionRequest(uint256 requestId, bool approved) external onlyRole(DEFAULT_ADMIN_ROLE) {
        DeletionRequest storage req = _requests[requestId];
        if (req.status == DeletionStatus.None) revert DeletionRequestNotFound(requestId);
        if (req.status != DeletionStatus.Pending) revert DeletionAlreadyProcessed(requestId, req.status);
        req.status = approved ? DeletionStatus.Approved : DeletionStatus.Rejected;
        req.processedAt = uint64(block.timestamp);
        delete pendingDeletionRequest[req.user];
        _audit[req.user].push(
            AuditEntry(
                approved ? AuditAction.DeletionApproved : AuditAction.DeletionRejected,
                0,
                "",
                bytes32(0),
                requestId,
                0,
                block.timestamp
            )
        );
        emit DeletionProcessed(requestId, req.user, approved, msg.sender, block.timestamp);
    }

    function setKycStatus(address wallet, uint8 status) external onlyRole(COMPLIANCE_OFFICER_ROLE) {
        if (wallet == address(0)) revert ZeroAddress();
        if (status > uint8(type(KycStatus).max)) revert InvalidKycStatus(status);
        uint8 previous = uint8(kycStatus[wallet]);
        kycStatus[wallet] = KycStatus(status);
        _audit[wallet].push(AuditEntry(AuditAction.KycStatusChanged, 0, "", bytes32(0), 0, status, block.timestamp));
        emit KycStatusChanged(wallet, previous, status, msg.sender, block.timestamp);
    }

    // ----- views -----

    function verifyAcceptance(address user, uint8 docType, string calldata version) external view returns (bool) {
        return _acceptedAt[user][docType][keccak256(bytes(version))] != 0;
    }

    function getDocument(uint8 docType, string calldata version) external view returns (Document memory) {
        return _documents[docType][keccak256(bytes(version))];
    }

    function getDeletionRequest(uint256 requestId) external view returns (DeletionRequest memory) {
        return _requests[requestId];
    }

    function getAuditTrail(address user) external view returns (AuditEntry[] memory) {
        return _audit[user];
    }
}
