// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "./AccessControl.sol";

interface IMintable {
    function mint(address to, uint256 amount) external;
}

/// @title Reward claims for sharing, listening and bandwidth, paid in freshly minted DCMX.
/// @notice Life of a claim: submitted (Pending) -> verified by the admin (Approved or Rejected)
/// -> claimed by its submitter (Claimed, DCMX minted). A proof hash can back one claim ever,
/// even a rejected one. A pool's budget is what is still available for approvals: submitting
/// checks it, approving draws it down. PoolConfigured, ClaimSubmitted and ClaimVerified are
/// enough to rebuild every pool's remaining budget.
contract RewardVault is AccessControl {
    enum RewardType {
        Sharing,
        Listening,
        Bandwidth
    }

    enum ClaimStatus {
        None,
        Pending,
        Approved,
        Rejected,
        Claimed
    }

    struct Pool {
        uint256 budget; // still available for approvals
        uint256 maxPerClaim;
        uint256 approvedTotal;
    }

    struct Claim {
        address user;
        RewardType rewardType;
        ClaimStatus status;
        uint64 submittedAt;
        bytes32 proofHash;
        uint256 amount;
    }

    IMintable public immutable token;
    uint256 public claimCount;

    mapping(RewardType => Pool) private _pools;
    mapping(uint256 claimId => Claim) private _claims;
    /// @notice Claim id that used a proof hash; 0 if the proof is unused.
    mapping(bytes32 proofHash => uint256) public proofClaim;
    mapping(address user => uint256[]) private _userClaims;
    mapping(address user => uint256) public totalClaimed;
    mapping(address user => uint256) public pendingApproved;

    event PoolConfigured(uint8 indexed rewardType, uint256 budget, uint256 maxPerClaim);
    event ClaimSubmitted(
        uint256 indexed claimId, address indexed user, uint8 indexed rewardType, bytes32 proofHash, uint256 amount
    );
    event ClaimVerified(uint256 indexed claimId, bool approved, address verifier);
    event RewardsClaimed(uint256 indexed claimId, address indexed user, uint256 amount);

    error InvalidRewardType(uint8 rewardType);
    error ZeroAmount();
    error EmptyProof();
    error ProofAlreadyUsed(bytes32 proofHash, uint256 claimId);
    error ClaimAboveMax(uint256 amount, uint256 maxPerClaim);
    error PoolBudgetExceeded(uint8 rewardType, uint256 requested, uint256 remaining);
    error ClaimNotFound(uint256 claimId);
    error ClaimNotPending(uint256 claimId, ClaimStatus status);
    error NotClaimant(uint256 claimId, address caller);
    error ClaimNotApproved(uint256 claimId, ClaimStatus status);
    error AlreadyClaimed(uint256 claimId);

    constructor(address token_) AccessControl(msg.sender) {
        if (token_ == address(0)) revert ZeroAddress();
        token = IMintable(token_);
    }

    /// @notice Sets a pool's available budget (replacing, not adding to, the current one) and
    /// its per-claim maximum.
    function setPool(uint8 rewardType, uint256 budget, uint256 maxPerClaim) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Pool storage pool = _pools[_rewardType(rewardType)];
        pool.budget = budget;
        pool.maxPerClaim = maxPerClaim;
        emit PoolConfigured(rewardType, budget, maxPerClaim);
    }

    function submitClaim(uint8 rewardType, bytes32 proofHash, uint256 amount) external returns (uint256 claimId) {
        RewardType kind = _rewardType(rewardType);
        if (amount == 0) revert ZeroAmount();
        if (proofHash == bytes32(0)) revert EmptyProof();
        uint256 previous = proofClaim[proofHash];
        if (previous != 0) revert ProofAlreadyUsed(proofHash, previous);
        Pool storage pool = _pools[kind];
        if (amount > pool.maxPerClaim) revert ClaimAboveMax(amount, pool.maxPerClaim);
        if (amount > pool.budget) revert PoolBudgetExceeded(rewardType, amount, pool.budget);

        claimId = ++claimCount;
        _claims[claimId] = Claim(msg.sender, kind, ClaimStatus.Pending, uint64(block.timestamp), proofHash, amount);
        proofClaim[proofHash] = claimId;
        _userClaims[msg.sender].push(claimId);
        emit ClaimSubmitted(claimId, msg.sender, rewardType, proofHash, amount);
    }

    function verifyClaim(uint256 claimId, bool approved) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Claim storage claim = _claims[claimId];
        if (claim.status == ClaimStatus.None) revert ClaimNotFound(claimId);
        if (claim.status != ClaimStatus.Pending) revert ClaimNotPending(claimId, claim.status);
        if (approved) {
            Pool storage pool = _pools[claim.rewardType];
            // Other approvals may have drawn the pool down since this claim was submitted.
            if (claim.amount > pool.budget) {
                revert PoolBudgetExceeded(uint8(claim.rewardType), claim.amount, pool.budget);
            }
            pool.budget -= claim.amount;
            pool.approvedTotal += claim.amount;
            pendingApproved[claim.user] += claim.amount;
            claim.status = ClaimStatus.Approved;
        } else {
            claim.status = ClaimStatus.Rejected;
        }
        emit ClaimVerified(claimId, approved, msg.sender);
    }

    function claimRewards(uint256 claimId) external {
        Claim storage claim = _claims[claimId];
        if (claim.status == ClaimStatus.None) revert ClaimNotFound(claimId);
        if (claim.user != msg.sender) revert NotClaimant(claimId, msg.sender);
        if (claim.status == ClaimStatus.Claimed) revert AlreadyClaimed(claimId);
        if (claim.status != ClaimStatus.Approved) revert ClaimNotApproved(claimId, claim.status);
        claim.status = ClaimStatus.Claimed;
        uint256 amount = claim.amount;
        pendingApproved[msg.sender] -= amount;
        totalClaimed[msg.sender] += amount;
        emit RewardsClaimed(claimId, msg.sender, amount);
        token.mint(msg.sender, amount);
    }

    // ----- views -----

    function getPool(uint8 rewardType) external view returns (Pool memory) {
        return _pools[_rewardType(rewardType)];
    }

    function getClaim(uint256 claimId) external view returns (Claim memory) {
        Claim memory claim = _claims[claimId];
        if (claim.status == ClaimStatus.None) revert ClaimNotFound(claimId);
        return claim;
    }

    /// @return claimed DCMX already minted to `user`
    /// @return pending approved but not yet claimed
    /// @return claimIds every claim `user` submitted, oldest first
    function getUserRewards(address user)
        external
        view
        returns (uint256 claimed, uint256 pending, uint256[] memory claimIds)
    {
        return (totalClaimed[user], pendingApproved[user], _userClaims[user]);
    }

    function _rewardType(uint8 raw) private pure returns (RewardType) {
        if (raw > uint8(type(RewardType).max)) revert InvalidRewardType(raw);
        return RewardType(raw);
    }
}
