"""Mixed fleet (rolling deploy): release N and N+1 share sessions on one real server.

Runs on the oldest and the newest local server (and Docker when an engine
answers). Release N is modelled from the frozen schema module of the
previous release; N+1 is the current code, pinned to write N first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from memfix import schemas
from memfix.errors import SchemaError
from memfix.model import Message
from memfix.servers import Server, ServerSpec, default_spec
from memfix.testing import ReleaseStoreFactory, run_mixed_fleet
from memfix.testing.releases import decode_up_to, encode_as
from tests.peers import write_report
from tests.test_contract import server_params

CURRENT = schemas.CURRENT_VERSION
PREVIOUS = list(schemas.RELEASED)[-2]


@pytest.fixture(params=server_params(heavy=True))
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    spec: ServerSpec = request.param
    with spec.start() as srv:
        yield srv


def test_release_n_and_pinned_n_plus_1_lose_nothing(server: Server) -> None:
    """Phase one of a two-phase release: N+1 reads everything, still writes N."""
    result = run_mixed_fleet(
        {
            PREVIOUS: ReleaseStoreFactory(server.url, release=PREVIOUS),
            f"{CURRENT} pinned to {PREVIOUS}": ReleaseStoreFactory(
                server.url, release=CURRENT, write_version=PREVIOUS
            ),
        }
    )
    write_report(f"fleet[{server.spec.id}]", result)
    assert result.ok, result.describe()
    assert result.messages == 2 * 2 * 100 and result.reads > 0


def test_unpinned_n_plus_1_is_caught_breaking_release_n() -> None:
    """Proof the check can fail: N+1 writing its own version while N still reads."""
    with default_spec().start() as server:
        result = run_mixed_fleet(
            {
                PREVIOUS: ReleaseStoreFactory(server.url, release=PREVIOUS),
                CURRENT: ReleaseStoreFactory(server.url),
            },
            messages_per_writer=40,
            processes=False,
        )
    assert not result.ok
    assert result.decode_errors[PREVIOUS] > 0 and result.decode_errors[CURRENT] == 0
    assert f"release {PREVIOUS} reads versions" in result.describe()
    assert result.checks[CURRENT].ok, result.describe()


def test_release_models_write_and_read_their_own_version() -> None:
    m = Message("user", "hï", 1.25, {"k": [1]})
    raw = encode_as(m, PREVIOUS)
    assert schemas.detect_version(raw) == PREVIOUS
    assert decode_up_to(raw, PREVIOUS) == schemas.decode_record(raw)
    with pytest.raises(SchemaError, match=f"release {PREVIOUS} reads versions"):
        decode_up_to(schemas.encode_message(m), PREVIOUS)
    assert decode_up_to(encode_as(m, "1.0"), PREVIOUS).content == "hï"
