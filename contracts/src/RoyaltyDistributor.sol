// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "./AccessControl.sol";

/// @title Splits NFT sale proceeds (native coin: TRX on TRON) between an NFT's rights holders.
/// @notice Splits are versioned per NFT; a sale is divided by the split version current when it
/// was recorded, so changing splits never redirects money from earlier sales. Payouts are pull
/// payments: distributing credits balances, recipients withdraw. Integer-division remainders go to
/// the first recipient, so the credits of a sale always add up to exactly its price.
contract RoyaltyDistributor is AccessControl {
    bytes32 public constant SPLIT_MANAGER_ROLE = keccak256("SPLIT_MANAGER_ROLE");
    uint16 public constant BPS_TOTAL = 10_000;
    uint256 public constant MAX_RECIPIENTS = 10;

    struct Split {
        address[] recipients;
        uint16[] bps;
    }

    struct Sale {
        uint256 nftTokenId;
        address buyer;
        address seller;
        uint256 amount;
        uint256 splitVersion;
        bool distributed;
    }

    mapping(uint256 nftTokenId => Split[]) private _splits;
    mapping(uint256 saleId => Sale) private _sales;
    mapping(address recipient => uint256) public pendingRoyalties;
    uint256 public saleCount;
    /// @notice Credited but not yet withdrawn, over all recipients.
    uint256 public totalPending;
    uint256 private _locked = 1;

    /// @param version index of this split in the NFT's split history, starting at 0
    event RoyaltySplitsSet(
        uint256 indexed nftTokenId, uint256 version, address[] recipients, uint16[] bps, address indexed setter
    );
    event SaleRecorded(
        uint256 indexed saleId,
        uint256 indexed nftTokenId,
        address indexed buyer,
        address seller,
        uint256 amount,
        uint256 splitVersion
    );
    event RoyaltiesDistributed(uint256 indexed saleId, uint256 indexed nftTokenId, uint256 amount, uint256 recipients);
    event RoyaltyCredited(uint256 indexed saleId, address indexed recipient, uint256 amount);
    event RoyaltiesWithdrawn(address indexed recipient, uint256 amount);

    error EmptySplits();
    error TooManyRecipients(uint256 count, uint256 max);
    error LengthMismatch(uint256 recipients, uint256 bps);
    error ZeroShare(uint256 index);
    error DuplicateRecipient(address recipient);
    error SplitsSumMismatch(uint256 total, uint256 expected);
    error NoSplits(uint256 nftTokenId);
    error ZeroSaleValue();
    error SaleNotFound(uint256 saleId);
    error AlreadyDistributed(uint256 saleId);
    error NothingToWithdraw(address recipient);
    error TransferFailed(address recipient, uint256 amount);
    error ReentrantCall();

    modifier nonReentrant() {
        if (_locked != 1) revert ReentrantCall();
        _locked = 2;
        _;
        _locked = 1;
    }

    constructor() AccessControl(msg.sender) {}

    function setRoyaltySplits(uint256 nftTokenId, address[] calldata recipients, uint16[] calldata bps) external {
        if (!hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) _checkRole(SPLIT_MANAGER_ROLE, msg.sender);
        uint256 n = recipients.length;
        if (n == 0) revert EmptySplits();
        if (n > MAX_RECIPIENTS) revert TooManyRecipients(n, MAX_RECIPIENTS);
        if (bps.length != n) revert LengthMismatch(n, bps.length);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            if (recipients[i] == address(0)) revert ZeroAddress();
            if (bps[i] == 0) revert ZeroShare(i);
            for (uint256 j; j < i; ++j) {
                if (recipients[j] == recipients[i]) revert DuplicateRecipient(recipients[i]);
            }
            total += bps[i];
        }
        if (total != BPS_TOTAL) revert SplitsSumMismatch(total, BPS_TOTAL);
        _splits[nftTokenId].push(Split(recipients, bps));
        emit RoyaltySplitsSet(nftTokenId, _splits[nftTokenId].length - 1, recipients, bps, msg.sender);
    }

    /// @notice Records a sale of `nftTokenId` paid with msg.value; the caller is the seller.
    function recordSale(uint256 nftTokenId, address buyer) external payable returns (uint256 saleId) {
        if (msg.value == 0) revert ZeroSaleValue();
        if (buyer == address(0)) revert ZeroAddress();
        uint256 versions = _splits[nftTokenId].length;
        if (versions == 0) revert NoSplits(nftTokenId);
        saleId = ++saleCount;
        _sales[saleId] = Sale(nftTokenId, buyer, msg.sender, msg.value, versions - 1, false);
        emit SaleRecorded(saleId, nftTokenId, buyer, msg.sender, msg.value, versions - 1);
    }

    /// @notice Credits a sale's proceeds to its recipients. Anyone may trigger it.
    function distributeRoyalties(uint256 saleId) external {
        Sale storage sale = _sales[saleId];
        if (sale.amount == 0) revert SaleNotFound(saleId);
        if (sale.distributed) revert AlreadyDistributed(saleId);
        sale.distributed = true;
        Split storage split = _splits[sale.nftTokenId][sale.splitVersion];
        uint256 n = split.recipients.length;
        uint256 amount = sale.amount;
        // Credit in split order, the first recipient taking the remainder of the rounded shares.
        uint256 others;
        for (uint256 i = 1; i < n; ++i) {
            others += amount * split.bps[i] / BPS_TOTAL;
        }
        _credit(saleId, split.recipients[0], amount - others);
        for (uint256 i = 1; i < n; ++i) {
            _credit(saleId, split.recipients[i], amount * split.bps[i] / BPS_TOTAL);
        }
        totalPending += amount;
        emit RoyaltiesDistributed(saleId, sale.nftTokenId, amount, n);
    }

    function withdrawRoyalties() external nonReentrant {
        uint256 amount = pendingRoyalties[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        pendingRoyalties[msg.sender] = 0;
        totalPending -= amount;
        emit RoyaltiesWithdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ----- views -----

    function getRoyaltyInfo(uint256 nftTokenId) external view returns (address[] memory recipients, uint16[] memory bps) {
        uint256 versions = _splits[nftTokenId].length;
        if (versions == 0) return (recipients, bps);
        Split storage split = _splits[nftTokenId][versions - 1];
        return (split.recipients, split.bps);
    }

    function splitVersions(uint256 nftTokenId) external view returns (uint256) {
        return _splits[nftTokenId].length;
    }

    function getSale(uint256 saleId) external view returns (Sale memory) {
        if (_sales[saleId].amount == 0) revert SaleNotFound(saleId);
        return _sales[saleId];
    }

    function _credit(uint256 saleId, address recipient, uint256 amount) private {
        pendingRoyalties[recipient] += amount;
        emit RoyaltyCredited(saleId, recipient, amount);
    }
}
