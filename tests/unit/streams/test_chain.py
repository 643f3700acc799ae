"""The chain stage's decisions without a chain: which blocks the watcher reads next, and how a
metadata URI's job and token meet (whichever comes first, a repeat changing nothing)."""

from __future__ import annotations

from typing import Any

from lantern.contract import ChainCursor, MintLink, TokenMinted
from streams.chain import MintMatch, match, minted_token
from streams.chain_watch import next_range

URI = "ipfs://QmMeta"


def link(job_id: str = "a" * 32) -> MintLink:
    return MintLink(
        metadata_uri=URI, job_id=job_id, wallet="0x" + "1" * 40, settings={}, options={},
        gif_cid="QmGif", gif_size=10,
    )  # fmt: skip


def minted(token_id: int, block: int = 5, **extra: Any) -> TokenMinted:
    fields: dict[str, Any] = {
        "metadata_uri": URI, "token_id": token_id, "owner": "0x" + "2" * 40, "image_url": "",
        "tx_hash": f"0x{token_id:064x}", "block_number": block, "block_hash": f"0x{block:064x}",
        "log_index": 0, "chain_id": 31337, "contract": "0x" + "3" * 40,
    }  # fmt: skip
    return TokenMinted(**{**fields, **extra})


def cursor(block: int) -> ChainCursor:
    return ChainCursor(chain_id=1, contract="0x", block_number=block, block_hash="0xh")


def window(saved: ChainCursor | None, still_there: bool, head: int, **kw: int) -> Any:
    options = {"from_block": 10, "confirmations": 0, "reorg_depth": 12, "max_blocks": 100, **kw}
    return next_range(saved, still_there, head, **options)


def test_a_new_watcher_starts_at_the_deployment_block() -> None:
    assert window(None, True, 50) == (10, 50)


def test_the_watcher_goes_on_after_its_place() -> None:
    assert window(cursor(50), True, 60) == (51, 60)
    assert window(cursor(60), True, 60) is None  # nothing new


def test_it_stays_confirmations_behind_the_head() -> None:
    assert window(cursor(50), True, 52, confirmations=3) is None
    assert window(cursor(50), True, 55, confirmations=3) == (51, 52)


def test_a_replaced_place_reads_the_last_reorg_depth_blocks_again() -> None:
    assert window(cursor(50), False, 55) == (39, 55)
    assert window(cursor(12), False, 55) == (10, 55)  # never before the deployment


def test_a_long_way_behind_is_read_in_bounded_steps() -> None:
    assert window(None, True, 10_000, max_blocks=2000) == (10, 2009)


def test_a_job_and_its_mint_meet_whichever_comes_first() -> None:
    first_link = match(match(None, link()), minted(1))
    first_mint = match(match(None, minted(1)), link())
    for state in (first_link, first_mint):
        assert state.link is not None and state.link.job_id == "a" * 32
        assert state.mint is not None and state.mint.token_id == 1


def test_the_same_mint_read_twice_changes_nothing_and_a_second_token_is_not_counted() -> None:
    state = match(match(None, link()), minted(1))
    assert match(state, minted(1)).mint == state.mint
    again = match(state, minted(2, block=9))  # the same metadata minted again by someone
    assert again is state and again.mint is not None and again.mint.token_id == 1


def test_a_mint_re_included_after_a_reorg_moves_to_its_new_block() -> None:
    state = match(match(None, link()), minted(1, block=5))
    moved = match(state, minted(1, block=6))
    assert moved.mint is not None and moved.mint.block_number == 6


def test_a_repeated_minted_status_never_carries_the_token_s_name() -> None:
    token = minted_token(minted(4))
    assert token["token_id"] == 4 and token["block_number"] == 5
    assert not {"token_uri", "metadata_cid", "metadata_url"} & token.keys()


def test_the_match_survives_the_wire() -> None:
    state = match(match(None, link()), minted(3)).derive(named_uri="ipfs://QmNamed")
    back = MintMatch.loads(state.dumps())
    assert back.mint is not None and back.mint.token_id == 3
    assert back.link is not None and back.link.gif_cid == "QmGif"
    assert back.named_uri == "ipfs://QmNamed"


def test_tokens_are_batched_in_runs_of_consecutive_ids() -> None:
    from streams.chain import contiguous

    assert contiguous([8, 1, 3, 2, 7, 12]) == [[1, 2, 3], [7, 8], [12]]
    assert contiguous([]) == []
