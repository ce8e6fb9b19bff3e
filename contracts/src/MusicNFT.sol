// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "./AccessControl.sol";

interface IERC721Receiver {
    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4);
}

/// @title DCMX music NFTs (TRC-721 / ERC-721 with ERC-2981 royalties), in limited editions.
/// @notice A piece of music is identified by its content hash; each of its editions
/// 1..maxEditions can be minted once, and maxEditions is fixed by the first mint. The Minted event
/// carries every stored field, so the metadata table can be rebuilt from events. As in ERC-721,
/// a Transfer clears the token's single approval without a separate Approval event.
contract MusicNFT is AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    uint96 public constant ROYALTY_DENOMINATOR = 10_000;

    string public constant name = "DCMX Music";
    string public constant symbol = "DCMXM";

    struct TokenMetadata {
        string title;
        string artist;
        string genre;
        bytes32 contentHash;
        uint32 edition;
        uint32 maxEditions;
        address creator;
        uint64 mintedAt;
    }

    struct Royalty {
        address receiver;
        uint96 bps;
    }

    uint256 public totalSupply;
    string public baseURI = "dcmx://nft/";

    mapping(uint256 tokenId => address) private _owners;
    mapping(address owner => uint256) private _balances;
    mapping(uint256 tokenId => address) private _tokenApprovals;
    mapping(address owner => mapping(address operator => bool)) private _operatorApprovals;
    mapping(uint256 tokenId => TokenMetadata) private _metadata;
    mapping(uint256 tokenId => Royalty) private _royalties;

    /// @notice Edition cap of a content hash; 0 until its first edition is minted.
    mapping(bytes32 contentHash => uint32) public maxEditionsOf;
    /// @notice Token id of an edition of a content hash; 0 if not minted.
    mapping(bytes32 contentHash => mapping(uint32 edition => uint256)) public editionTokenId;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    event Minted(
        address indexed to,
        uint256 indexed tokenId,
        bytes32 indexed contentHash,
        string title,
        string artist,
        string genre,
        uint32 edition,
        uint32 maxEditions,
        address royaltyReceiver,
        uint96 royaltyBps
    );
    event BaseURIUpdated(string baseURI);

    error NonexistentToken(uint256 tokenId);
    error NotOwnerNorApproved(address caller, uint256 tokenId);
    error IncorrectOwner(address from, uint256 tokenId, address owner);
    error InvalidReceiver(address receiver);
    error EmptyContentHash();
    /// @notice `edition` is outside 1..maxEditions.
    error InvalidEdition(uint32 edition, uint32 maxEditions);
    /// @notice The content hash was first minted with a different edition cap.
    error MaxEditionsMismatch(bytes32 contentHash, uint32 fixedMaxEditions, uint32 requested);
    error EditionAlreadyMinted(bytes32 contentHash, uint32 edition, uint256 tokenId);
    error RoyaltyTooHigh(uint96 bps, uint96 max);
    error ApproveToOwner(address owner);

    constructor() AccessControl(msg.sender) {}

    // ----- minting -----

    function mint(
        address to,
        // memory, not calldata: a calldata string takes two stack slots and mint has nine params
        string memory title,
        string memory artist,
        string memory genre,
        bytes32 contentHash,
        uint32 edition,
        uint32 maxEditions,
        address royaltyReceiver,
        uint96 royaltyBps
    ) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        if (to == address(0) || royaltyReceiver == address(0)) revert ZeroAddress();
        if (contentHash == bytes32(0)) revert EmptyContentHash();
        if (royaltyBps > ROYALTY_DENOMINATOR) revert RoyaltyTooHigh(royaltyBps, ROYALTY_DENOMINATOR);
        uint32 fixedMax = maxEditionsOf[contentHash];
        if (fixedMax == 0) {
            if (edition == 0 || edition > maxEditions) revert InvalidEdition(edition, maxEditions);
            maxEditionsOf[contentHash] = maxEditions;
        } else {
            if (maxEditions != fixedMax) revert MaxEditionsMismatch(contentHash, fixedMax, maxEditions);
            if (edition == 0 || edition > fixedMax) revert InvalidEdition(edition, fixedMax);
            uint256 existing = editionTokenId[contentHash][edition];
            if (existing != 0) revert EditionAlreadyMinted(contentHash, edition, existing);
        }

        tokenId = ++totalSupply;
        editionTokenId[contentHash][edition] = tokenId;
        _metadata[tokenId] = TokenMetadata({
            title: title,
            artist: artist,
            genre: genre,
            contentHash: contentHash,
            edition: edition,
            maxEditions: maxEditions,
            creator: msg.sender,
            mintedAt: uint64(block.timestamp)
        });
        _royalties[tokenId] = Royalty(royaltyReceiver, royaltyBps);
        _owners[tokenId] = to;
        unchecked {
            _balances[to] += 1;
        }
        emit Transfer(address(0), to, tokenId);
        emit Minted(
            to, tokenId, contentHash, title, artist, genre, edition, maxEditions, royaltyReceiver, royaltyBps
        );
    }

    function setBaseURI(string calldata newBaseURI) external onlyRole(DEFAULT_ADMIN_ROLE) {
        baseURI = newBaseURI;
        emit BaseURIUpdated(newBaseURI);
    }

    // ----- views -----

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x80ac58cd // ERC-721
            || interfaceId == 0x5b5e139f // ERC-721 Metadata
            || interfaceId == 0x2a55205a; // ERC-2981
    }

    function ownerOf(uint256 tokenId) public view returns (address owner) {
        owner = _owners[tokenId];
        if (owner == address(0)) revert NonexistentToken(tokenId);
    }

    function balanceOf(address owner) external view returns (uint256) {
        if (owner == address(0)) revert ZeroAddress();
        return _balances[owner];
    }

    function tokenURI(uint256 tokenId) external view returns (string memory) {
        ownerOf(tokenId);
        return string.concat(baseURI, _toString(tokenId));
    }

    function tokenMetadata(uint256 tokenId) external view returns (TokenMetadata memory) {
        ownerOf(tokenId);
        return _metadata[tokenId];
    }

    /// @notice ERC-2981: the royalty owed on a sale of `tokenId` at `salePrice`, rounded down.
    function royaltyInfo(uint256 tokenId, uint256 salePrice)
        external
        view
        returns (address receiver, uint256 royaltyAmount)
    {
        ownerOf(tokenId);
        Royalty memory r = _royalties[tokenId];
        return (r.receiver, salePrice * r.bps / ROYALTY_DENOMINATOR);
    }

    function getApproved(uint256 tokenId) external view returns (address) {
        ownerOf(tokenId);
        return _tokenApprovals[tokenId];
    }

    function isApprovedForAll(address owner, address operator) public view returns (bool) {
        return _operatorApprovals[owner][operator];
    }

    // ----- approvals and transfers -----

    function approve(address to, uint256 tokenId) external {
        address owner = ownerOf(tokenId);
        if (msg.sender != owner && !isApprovedForAll(owner, msg.sender)) {
            revert NotOwnerNorApproved(msg.sender, tokenId);
        }
        if (to == owner) revert ApproveToOwner(owner);
        _tokenApprovals[tokenId] = to;
        emit Approval(owner, to, tokenId);
    }

    function setApprovalForAll(address operator, bool approved) external {
        if (operator == address(0)) revert ZeroAddress();
        _operatorApprovals[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function transferFrom(address from, address to, uint256 tokenId) public {
        address owner = ownerOf(tokenId);
        if (from != owner) revert IncorrectOwner(from, tokenId, owner);
        if (to == address(0)) revert ZeroAddress();
        if (
            msg.sender != owner && _tokenApprovals[tokenId] != msg.sender
                && !isApprovedForAll(owner, msg.sender)
        ) revert NotOwnerNorApproved(msg.sender, tokenId);

        delete _tokenApprovals[tokenId];
        unchecked {
            _balances[from] -= 1;
            _balances[to] += 1;
        }
        _owners[tokenId] = to;
        emit Transfer(from, to, tokenId);
    }

    function safeTransferFrom(address from, address to, uint256 tokenId) external {
        safeTransferFrom(from, to, tokenId, "");
    }

    function safeTransferFrom(address from, address to, uint256 tokenId, bytes memory data) public {
        transferFrom(from, to, tokenId);
        if (to.code.length > 0) {
            try IERC721Receiver(to).onERC721Received(msg.sender, from, tokenId, data) returns (
                bytes4 retval
            ) {
                if (retval != IERC721Receiver.onERC721Received.selector) revert InvalidReceiver(to);
            } catch (bytes memory reason) {
                if (reason.length == 0) revert InvalidReceiver(to);
                // Bubble the receiver's own reason: it says better than we can why it refused.
                assembly ("memory-safe") {
                    revert(add(reason, 0x20), mload(reason))
                }
            }
        }
    }

    function _toString(uint256 value) private pure returns (string memory) {
        if (value == 0) return "0";
        uint256 digits;
        for (uint256 v = value; v != 0; v /= 10) digits++;
        bytes memory out = new bytes(digits);
        for (; value != 0; value /= 10) out[--digits] = bytes1(uint8(48 + value % 10));
        return string(out);
    }
}
