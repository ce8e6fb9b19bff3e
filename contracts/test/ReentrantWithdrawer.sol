// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

interface IRoyaltyWithdraw {
    function withdrawRoyalties() external;
}

/// @notice Test helper: a royalty recipient whose receive() tries to withdraw again, and keeps
/// the revert data of that attempt so a test can check which guard stopped it; or, when told
/// to, refuses the payment outright.
contract ReentrantWithdrawer {
    IRoyaltyWithdraw public immutable target;
    bytes public lastReentryError;
    uint256 public reentryAttempts;
    /// @notice When set, receive() refuses payment, to exercise the sender's failure path.
    bool public refuse;

    constructor(IRoyaltyWithdraw target_) {
        target = target_;
    }

    function setRefuse(bool refuse_) external {
        refuse = refuse_;
    }

    function withdraw() external {
        target.withdrawRoyalties();
    }

    receive() external payable {
        if (refuse) revert("refusing payment");
        reentryAttempts++;
        try target.withdrawRoyalties() {
            revert("re-entry succeeded");
        } catch (bytes memory reason) {
            lastReentryError = reason;
        }
    }
}
