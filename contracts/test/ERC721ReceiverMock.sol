// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Test helper: an NFT receiver that accepts, answers wrongly, or reverts, as configured.
/// It has no receive function, so it also stands in for an account that refuses native coin.
contract ERC721ReceiverMock {
    enum Mode {
        Accept,
        WrongValue,
        RevertWithReason,
        RevertEmpty
    }

    Mode public immutable mode;

    event Received(address operator, address from, uint256 tokenId, bytes data);

    error ReceiverRejected(uint256 tokenId);

    constructor(Mode mode_) {
        mode = mode_;
    }

    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4)
    {
        if (mode == Mode.RevertWithReason) revert ReceiverRejected(tokenId);
        if (mode == Mode.RevertEmpty) revert();
        emit Received(operator, from, tokenId, data);
        return mode == Mode.Accept ? this.onERC721Received.selector : bytes4(0xdeadbeef);
    }
}
