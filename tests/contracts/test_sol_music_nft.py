"""MusicNFT: limited editions, ERC-721 transfers and approvals, ERC-2981 royalties, events."""

from __future__ import annotations

import pytest
from eth_utils import keccak
from sol_helpers import encode_error, events, only_event, reverts, role

from dcmx_plugins.devchain import Devchain, revert_data

MINTER = role("MINTER_ROLE")
ADMIN = role("DEFAULT_ADMIN_ROLE")
ZERO = "0x" + "00" * 20
SONG = keccak(text="song-1")
OTHER = keccak(text="song-2")


@pytest.fixture(scope="module")
def deployment(chain: Devchain):
    nft = chain.deploy("MusicNFT")
    artist = chain.accounts[1]
    chain.transact(nft.functions.grantRole(MINTER, artist))
    receivers = {
        mode: chain.deploy("test/ERC721ReceiverMock", i, alias=f"receiver-{mode}")
        for i, mode in enumerate(["accept", "wrong", "reason", "empty"])
    }
    return nft, receivers


@pytest.fixture(scope="module")
def nft(deployment):
    return deployment[0]


@pytest.fixture(scope="module")
def receivers(deployment):
    return deployment[1]


@pytest.fixture(scope="module")
def who(chain: Devchain):
    admin, artist, alice, bob, carol = chain.accounts[:5]
    return type("Who", (), dict(admin=admin, artist=artist, alice=alice, bob=bob, carol=carol))


def mint(chain, nft, who, *, to=None, content=SONG, edition=1, max_editions=3, bps=500,
         receiver=None, sender=None):
    return chain.transact(
        nft.functions.mint(to or who.alice, "Title", "Artist", "Genre", content, edition,
                           max_editions, receiver or who.artist, bps),
        sender or who.artist,
    )


def test_mint_stores_metadata_and_emits(chain, nft, who):
    receipt = chain.transact(
        nft.functions.mint(who.alice, "Blue", "Ana", "jazz", SONG, 2, 5, who.carol, 750),
        who.artist,
    )
    assert only_event(receipt, nft, "Transfer") == {"from": ZERO, "to": who.alice, "tokenId": 1}
    assert only_event(receipt, nft, "Minted") == {
        "to": who.alice, "tokenId": 1, "contentHash": SONG, "title": "Blue", "artist": "Ana",
        "genre": "jazz", "edition": 2, "maxEditions": 5, "royaltyReceiver": who.carol,
        "royaltyBps": 750,
    }
    f = nft.functions
    assert f.ownerOf(1).call() == who.alice
    assert f.balanceOf(who.alice).call() == 1
    assert f.totalSupply().call() == 1
    meta = f.tokenMetadata(1).call()
    block = chain.w3.eth.get_block(receipt["blockNumber"])
    assert meta == ("Blue", "Ana", "jazz", SONG, 2, 5, who.artist, block["timestamp"])
    assert f.maxEditionsOf(SONG).call() == 5
    assert f.editionTokenId(SONG, 2).call() == 1
    assert f.royaltyInfo(1, 10_000).call() == [who.carol, 750]
    assert f.royaltyInfo(1, 999).call() == [who.carol, 74]  # rounded down
    assert f.tokenURI(1).call() == "dcmx://nft/1"


def test_names_and_interfaces(nft):
    assert nft.functions.name().call() == "DCMX Music"
    assert nft.functions.symbol().call() == "DCMXM"
    for iface in ("01ffc9a7", "80ac58cd", "5b5e139f", "2a55205a"):
        assert nft.functions.supportsInterface(bytes.fromhex(iface)).call()
    assert not nft.functions.supportsInterface(bytes.fromhex("ffffffff")).call()


def test_editions_are_limited_and_unique(chain, nft, who):
    mint(chain, nft, who, edition=1, max_editions=2)
    mint(chain, nft, who, edition=2, max_editions=2)
    with reverts(nft, "EditionAlreadyMinted", SONG, 2, 2):
        mint(chain, nft, who, edition=2, max_editions=2)
    with reverts(nft, "InvalidEdition", 3, 2):
        mint(chain, nft, who, edition=3, max_editions=2)
    with reverts(nft, "InvalidEdition", 0, 2):
        mint(chain, nft, who, edition=0, max_editions=2)
    with reverts(nft, "MaxEditionsMismatch", SONG, 2, 9):
        mint(chain, nft, who, edition=3, max_editions=9)
    # The first mint of a content hash fixes its cap; it must hold that edition itself.
    with reverts(nft, "InvalidEdition", 4, 3):
        mint(chain, nft, who, content=OTHER, edition=4, max_editions=3)
    with reverts(nft, "InvalidEdition", 1, 0):
        mint(chain, nft, who, content=OTHER, edition=1, max_editions=0)
    assert nft.functions.maxEditionsOf(OTHER).call() == 0


def test_mint_argument_checks(chain, nft, who):
    with reverts(nft, "MissingRole", MINTER, who.alice):
        mint(chain, nft, who, sender=who.alice)
    with reverts(nft, "ZeroAddress"):
        mint(chain, nft, who, to=ZERO)
    with reverts(nft, "ZeroAddress"):
        mint(chain, nft, who, receiver=ZERO)
    with reverts(nft, "EmptyContentHash"):
        mint(chain, nft, who, content=b"\x00" * 32)
    with reverts(nft, "RoyaltyTooHigh", 10_001, 10_000):
        mint(chain, nft, who, bps=10_001)
    mint(chain, nft, who, bps=10_000)


def test_views_of_missing_token_revert(nft, who):
    for call in (nft.functions.ownerOf(7), nft.functions.tokenURI(7),
                 nft.functions.tokenMetadata(7), nft.functions.getApproved(7),
                 nft.functions.royaltyInfo(7, 1)):
        with reverts(nft, "NonexistentToken", 7):
            call.call()
    with reverts(nft, "ZeroAddress"):
        nft.functions.balanceOf(ZERO).call()


def test_transfer_by_owner(chain, nft, who):
    mint(chain, nft, who)
    receipt = chain.transact(nft.functions.transferFrom(who.alice, who.bob, 1), who.alice)
    assert only_event(receipt, nft, "Transfer") == {"from": who.alice, "to": who.bob, "tokenId": 1}
    assert nft.functions.ownerOf(1).call() == who.bob
    assert nft.functions.balanceOf(who.alice).call() == 0
    assert nft.functions.balanceOf(who.bob).call() == 1


def test_transfer_failures(chain, nft, who):
    mint(chain, nft, who)
    with reverts(nft, "NotOwnerNorApproved", who.bob, 1):
        chain.transact(nft.functions.transferFrom(who.alice, who.bob, 1), who.bob)
    with reverts(nft, "IncorrectOwner", who.bob, 1, who.alice):
        chain.transact(nft.functions.transferFrom(who.bob, who.carol, 1), who.alice)
    with reverts(nft, "ZeroAddress"):
        chain.transact(nft.functions.transferFrom(who.alice, ZERO, 1), who.alice)
    with reverts(nft, "NonexistentToken", 2):
        chain.transact(nft.functions.transferFrom(who.alice, who.bob, 2), who.alice)


def test_single_approval_is_used_and_cleared(chain, nft, who):
    mint(chain, nft, who)
    receipt = chain.transact(nft.functions.approve(who.bob, 1), who.alice)
    assert only_event(receipt, nft, "Approval") == {
        "owner": who.alice, "approved": who.bob, "tokenId": 1,
    }
    assert nft.functions.getApproved(1).call() == who.bob
    chain.transact(nft.functions.transferFrom(who.alice, who.carol, 1), who.bob)
    assert nft.functions.getApproved(1).call() == ZERO
    with reverts(nft, "NotOwnerNorApproved", who.bob, 1):
        chain.transact(nft.functions.transferFrom(who.carol, who.bob, 1), who.bob)


def test_approve_failures(chain, nft, who):
    mint(chain, nft, who)
    with reverts(nft, "NotOwnerNorApproved", who.bob, 1):
        chain.transact(nft.functions.approve(who.bob, 1), who.bob)
    with reverts(nft, "ApproveToOwner", who.alice):
        chain.transact(nft.functions.approve(who.alice, 1), who.alice)


def test_operator_approval(chain, nft, who):
    mint(chain, nft, who)
    receipt = chain.transact(nft.functions.setApprovalForAll(who.bob, True), who.alice)
    assert only_event(receipt, nft, "ApprovalForAll") == {
        "owner": who.alice, "operator": who.bob, "approved": True,
    }
    assert nft.functions.isApprovedForAll(who.alice, who.bob).call()
    # An operator may approve others and transfer.
    chain.transact(nft.functions.approve(who.carol, 1), who.bob)
    chain.transact(nft.functions.transferFrom(who.alice, who.bob, 1), who.bob)
    assert nft.functions.ownerOf(1).call() == who.bob

    receipt = chain.transact(nft.functions.setApprovalForAll(who.bob, False), who.alice)
    assert only_event(receipt, nft, "ApprovalForAll")["approved"] is False
    assert not nft.functions.isApprovedForAll(who.alice, who.bob).call()
    with reverts(nft, "ZeroAddress"):
        chain.transact(nft.functions.setApprovalForAll(ZERO, True), who.alice)


def test_safe_transfer_to_accounts_and_accepting_contracts(chain, nft, who, receivers):
    mint(chain, nft, who, edition=1)
    mint(chain, nft, who, edition=2)
    safe3 = nft.functions.safeTransferFrom(who.alice, who.bob, 1)
    chain.transact(safe3, who.alice)
    assert nft.functions.ownerOf(1).call() == who.bob

    accept = receivers["accept"]
    safe4 = nft.get_function_by_signature("safeTransferFrom(address,address,uint256,bytes)")
    receipt = chain.transact(safe4(who.alice, accept.address, 2, b"hello"), who.alice)
    assert only_event(receipt, accept, "Received") == {
        "operator": who.alice, "from": who.alice, "tokenId": 2, "data": b"hello",
    }
    assert nft.functions.ownerOf(2).call() == accept.address


def test_safe_transfer_to_refusing_contracts_reverts(chain, nft, who, receivers):
    mint(chain, nft, who)
    for mode in ("wrong", "empty"):
        target = receivers[mode].address
        with reverts(nft, "InvalidReceiver", target):
            chain.transact(nft.functions.safeTransferFrom(who.alice, target, 1), who.alice)
    # A contract without onERC721Received at all (the NFT itself) is refused too.
    with reverts(nft, "InvalidReceiver", nft.address):
        chain.transact(nft.functions.safeTransferFrom(who.alice, nft.address, 1), who.alice)
    # The receiver's own reason is passed through.
    with pytest.raises(Exception) as info:
        chain.transact(nft.functions.safeTransferFrom(who.alice, receivers["reason"].address, 1),
                       who.alice)
    assert revert_data(info.value) == encode_error(receivers["reason"], "ReceiverRejected", 1)
    assert nft.functions.ownerOf(1).call() == who.alice
    # Plain transferFrom does not ask the receiver.
    chain.transact(nft.functions.transferFrom(who.alice, receivers["wrong"].address, 1), who.alice)


def test_base_uri_admin_only(chain, nft, who):
    mint(chain, nft, who)
    receipt = chain.transact(nft.functions.setBaseURI("ipfs://dcmx/"))
    assert only_event(receipt, nft, "BaseURIUpdated") == {"baseURI": "ipfs://dcmx/"}
    assert nft.functions.tokenURI(1).call() == "ipfs://dcmx/1"
    with reverts(nft, "MissingRole", ADMIN, who.artist):
        chain.transact(nft.functions.setBaseURI("x"), who.artist)


def test_token_ids_count_up_and_uri_renders_decimal(chain, nft, who):
    for edition in range(1, 11):
        receipt = mint(chain, nft, who, edition=edition, max_editions=10)
        assert only_event(receipt, nft, "Minted")["tokenId"] == edition
    assert nft.functions.tokenURI(10).call() == "dcmx://nft/10"
    assert nft.functions.balanceOf(who.alice).call() == 10
    assert events(receipt, nft, "Approval") == []
