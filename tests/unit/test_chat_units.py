"""Pure parts of the chat service: settings, hub order, tokens, validation, fan-out payloads, failover conninfo."""

from __future__ import annotations

import jwt
import orjson
import pytest

from chat.auth import AuthError, bearer_token, issue_token, issuer_secret_ok, verify_token
from chat.config import Settings, SettingsError
from chat.db import Message, failover_conninfo
from chat.fanout import Fanout, sign, verified
from chat.hub import Hub, Subscriber
from chat.validation import Invalid, SendRequest, TokenRequest, check_body_size, check_room, parse
from chat.ws import close_reason

pytestmark = pytest.mark.unit

BASE = {"CHAT_DATABASE_URL": "postgresql://u@h/db", "CHAT_JWT_SECRET": "j" * 32, "CHAT_ISSUER_SECRET": "i"}
SECRET = "k" * 32


def test_settings_defaults_and_burst_follow_the_rate() -> None:
    """Unset variables take the documented defaults; the burst defaults to twice CHAT_RATE_LIMIT."""
    s = Settings.from_env({**BASE, "CHAT_RATE_LIMIT": "10"})
    assert (s.release, s.max_body_bytes, s.rate_limit, s.rate_burst) == ("good", 4096, 10.0, 20.0)
    assert Settings.from_env(BASE).rate_burst == 100.0
    assert s.readyz_requires_redis is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHAT_RELEASE": "bad-things"}, "CHAT_RELEASE='bad-things'"),
        ({"CHAT_RATE_LIMIT": "fast"}, "CHAT_RATE_LIMIT='fast': expected a number"),
        ({"CHAT_MAX_BODY_BYTES": "0"}, "CHAT_MAX_BODY_BYTES='0': must be at least 1"),
        ({"CHAT_JWT_SECRET": ""}, "CHAT_JWT_SECRET is not set"),
        ({"CHAT_LOG_LEVEL": "loud"}, "CHAT_LOG_LEVEL='LOUD'"),
        ({"CHAT_BAD_ERROR_SHARE": "2"}, "CHAT_BAD_ERROR_SHARE=2"),
    ],
)
def test_settings_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    """A bad CHAT_* value raises SettingsError whose message names the variable and value."""
    with pytest.raises(SettingsError, match="^" + message.replace("(", r"\(")):
        Settings.from_env({**BASE, **env})


def test_tokens_round_trip_and_reject_forgery_and_expiry() -> None:
    """An issued token names its user; a wrong key, expiry or garbage raise AuthError."""
    token, expires = issue_token(SECRET, "alice", 60, now=1_000_000_000)
    assert expires == 1_000_000_060
    fresh, _ = issue_token(SECRET, "alice", 60)
    assert verify_token(SECRET, fresh) == "alice"
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, token)
    with pytest.raises(AuthError, match="invalid token"):
        verify_token("x" * 32, fresh)
    with pytest.raises(AuthError, match="invalid token"):
        verify_token(SECRET, "a.b.c")


def test_bearer_token_from_header_or_query() -> None:
    """The token comes from Authorization: Bearer, else from ?token=; neither is AuthError."""
    assert bearer_token({"authorization": "Bearer abc"}) == "abc"
    assert bearer_token({}, {"token": "q"}) == "q"
    with pytest.raises(AuthError, match="missing"):
        bearer_token({"authorization": "Basic x"})
    assert issuer_secret_ok("s", "s") and not issuer_secret_ok("s", None) and not issuer_secret_ok("s", "t")


def test_validation_messages_name_fields() -> None:
    """Validation errors carry 422 (413 for size) and begin with the field name."""
    assert parse(SendRequest, {"client_id": "c", "body": "b", "extra": 1}).client_id == "c"
    with pytest.raises(Invalid, match=r"^client_id") as e:
        parse(SendRequest, {"client_id": 3, "body": "b"})
    assert e.value.status == 422
    with pytest.raises(Invalid, match="JSON object"):
        parse(SendRequest, [1])
    with pytest.raises(Invalid, match=r"^ttl_s"):
        parse(TokenRequest, {"user": "u", "ttl_s": 0})
    with pytest.raises(Invalid, match=r"^room"):
        check_room("a b")
    with pytest.raises(Invalid, match="6 bytes") as e:
        check_body_size("ééé", 5)
    assert e.value.status == 413


def test_failover_conninfo_adds_read_write_but_keeps_explicit_settings() -> None:
    """target_session_attrs=read-write and timeouts are added unless the URL sets them."""
    info = failover_conninfo("postgresql://u:p@127.0.0.1:5/db")
    assert "target_session_attrs=read-write" in info
    assert "connect_timeout=3" in info
    explicit = failover_conninfo("postgresql://u@h/db?target_session_attrs=any&connect_timeout=9")
    assert "target_session_attrs=any" in explicit
    assert "connect_timeout=9" in explicit


def test_nul_characters_are_refused() -> None:
    """PostgreSQL text cannot hold NUL: a body or client_id with one is a 422, not a server error."""
    with pytest.raises(Invalid, match=r"^body: must not contain NUL"):
        check_body_size("a\x00b", 100)
    with pytest.raises(Invalid, match=r"^client_id"):
        parse(SendRequest, {"client_id": "a\x00", "body": "b"})


def _message(i: int, room: str = "r") -> Message:
    return Message(i, room, f"c{i}", "u", "b", 0.0)


def test_subscriber_overflow_and_dedupe() -> None:
    """A full inbox marks the subscriber overflowed (it will be closed with 1013); ids are seen once."""
    sub = Subscriber("r", maxsize=2, remember=2)
    for i in range(3):
        sub.offer(_message(i))
    assert sub.overflowed
    assert [sub.seen(i) for i in (1, 1, 2, 3)] == [False, True, False, False]
    assert sub.seen(1) is False  # forgotten: only the last `remember` ids are kept


def test_subscriber_writes_directly_only_when_nothing_waits_before_the_message() -> None:
    """A live socket's message is written at once (``direct``) when its queue is empty and its pusher holds
    nothing; otherwise, or when the direct write cannot go, it is queued behind the others, so the socket
    never receives a later message before an earlier one."""
    written: list[int] = []
    can_write = True

    def direct(m: Message) -> bool:
        if can_write:
            written.append(m.id)
        return can_write

    sub = Subscriber("r")
    sub.offer(_message(1))  # not live yet (replaying): queued
    sub.direct = direct
    sub.offer(_message(2))  # something queued before it: queued too
    assert (written, sub.queue.qsize()) == ([], 2)
    sub.queue.get_nowait()
    sub.queue.get_nowait()
    sub.pushing = True  # the pusher holds message 2, not written yet
    sub.offer(_message(3))
    assert (written, sub.queue.qsize()) == ([], 1)
    sub.queue.get_nowait()
    sub.pushing = False
    sub.offer(_message(4))  # nothing before it: written now
    can_write = False
    sub.offer(_message(5))  # the transport's buffer is full: queued
    can_write = True
    sub.offer(_message(6))  # behind 5
    assert written == [4]
    assert [sub.queue.get_nowait().id for _ in range(2)] == [5, 6]


def test_hub_delivers_per_room_and_tracks_marks() -> None:
    """The hub delivers only to the message's room and remembers the highest id per room with sockets."""
    hub, a, b = Hub(), Subscriber("a"), Subscriber("b")
    hub.join(a)
    hub.join(b)
    hub.deliver(_message(5, "a"))
    hub.note("b", 3)
    hub.deliver(_message(9, "elsewhere"))
    assert (a.queue.qsize(), b.queue.qsize()) == (1, 0)
    assert hub.marks() == {"a": 5, "b": 3}
    hub.leave(a)
    assert hub.marks() == {"b": 3}
    assert hub.connections() == 1


def test_short_jwt_secret_and_bad_flags_are_refused() -> None:
    """A JWT secret under 32 bytes (1 byte was accepted), a short CHAT_FANOUT_KEY or a non-boolean flag is a
    SettingsError naming the variable, never echoing the secret."""
    for env, needle in (
        ({"CHAT_JWT_SECRET": "k"}, "CHAT_JWT_SECRET is shorter than 32 bytes"),
        ({"CHAT_FANOUT_KEY": "short-key"}, "CHAT_FANOUT_KEY is shorter than 32 bytes"),
        ({"CHAT_TOKEN_ISSUER": "maybe"}, "CHAT_TOKEN_ISSUER='maybe'"),
    ):
        with pytest.raises(SettingsError, match=needle) as info:
            Settings.from_env({**BASE, **env})
        assert "short-key" not in str(info.value)


def test_settings_repr_hides_secrets_and_the_fanout_key_is_derived() -> None:
    """repr(Settings) shows no secret or URL password; the fan-out key defaults to one derived from (not
    equal to) the JWT secret, the same on every replica; the issuer is on by default."""
    s = Settings.from_env({**BASE, "CHAT_DATABASE_URL": "postgresql://u:pw-in-url@h/db", "CHAT_ISSUER_SECRET": "iss"})
    text = repr(s)
    assert "pw-in-url" not in text and "j" * 32 not in text and "'iss'" not in text
    assert s.fanout_key != BASE["CHAT_JWT_SECRET"].encode() and len(s.fanout_key) == 32
    assert s.fanout_key == Settings.from_env(BASE).fanout_key
    assert s.token_issuer is True and Settings.from_env({**BASE, "CHAT_TOKEN_ISSUER": "0"}).token_issuer is False


def test_tokens_carry_and_require_issuer_and_audience() -> None:
    """Issued tokens carry iss/aud; a token for another audience or issuer, or with neither, is refused."""
    good, _ = issue_token(SECRET, "alice", 60)
    assert verify_token(SECRET, good) == "alice"
    with pytest.raises(AuthError):
        verify_token(SECRET, good, audience="billing")
    other, _ = issue_token(SECRET, "alice", 60, issuer="elsewhere")
    with pytest.raises(AuthError):
        verify_token(SECRET, other)
    bare = jwt.encode({"sub": "alice", "exp": 2**40}, SECRET, algorithm="HS256")
    with pytest.raises(AuthError):
        verify_token(SECRET, bare)


def test_close_reasons_are_cut_to_123_bytes_on_a_character_boundary() -> None:
    """A reason over 123 UTF-8 bytes is cut without splitting a character (it raised a protocol error)."""
    assert close_reason("short") == "short"
    cut = close_reason("after: " + "²" * 100)
    assert len(cut.encode()) <= 123 and cut.startswith("after: ²") and "\ufffd" not in cut


def test_fanout_payloads_verify_only_with_the_shared_key() -> None:
    """sign/verified round-trip; another key, a changed body, no signature or junk yield None."""
    key = b"k" * 32
    payload = sign(key, '{"a": 1}')
    assert payload == sign(key, b'{"a": 1}')
    assert verified(key, payload) == b'{"a": 1}' and verified(key, payload.decode()) == b'{"a": 1}'
    assert verified(b"x" * 32, payload) is None
    assert verified(key, payload.replace(b"1", b"2")) is None
    for junk in ('{"a": 1}', "", ".", "z" * 64 + ".{}", b"\xff" * 70):
        assert verified(key, junk) is None


def _seq(i: int, room: str = "r") -> Message:
    return Message(100 + i, room, f"c{i}", "u", "b", 0.0, i)


def _ids(sub: Subscriber) -> list[int]:
    out = []
    while not sub.queue.empty():
        out.append(sub.queue.get_nowait().id)
    return out


def test_hub_releases_a_room_in_sequence_and_holds_behind_a_gap() -> None:
    """Messages arriving 3, 1, 2 (a Redis relay overtaking a local commit) reach the socket as 1, 2, 3; a
    duplicate is dropped; a gap is reported once per hold and closes when the missing message arrives."""
    gaps: list[str] = []
    hub, sub = Hub(on_gap=gaps.append), Subscriber("r")
    hub.join(sub)
    hub.deliver(_seq(1))  # before the replay said where the room stands: held
    assert _ids(sub) == []
    hub.note("r", 100, 0)
    assert _ids(sub) == [101]
    hub.deliver(_seq(3))
    assert _ids(sub) == [] and gaps == ["r"] and hub.gap("r")
    hub.deliver(_seq(2))
    hub.deliver(_seq(2))
    assert _ids(sub) == [102, 103] and not hub.gap("r") and hub.position("r") == 3


def test_hub_drops_what_the_replay_already_gave() -> None:
    """Messages at or below the replay's position are not pushed again; later ones follow in order."""
    hub, sub = Hub(), Subscriber("r")
    hub.join(sub)
    for i in (4, 5, 6):
        hub.deliver(_seq(i))
    hub.note("r", 105, 5)
    assert _ids(sub) == [106]
    hub.deliver(Message(7, "r", "legacy", "u", "b", 0.0))  # stored before rooms had a sequence: as it comes
    assert _ids(sub) == [7]


def test_fanout_drops_its_own_payloads_before_verifying_and_delivers_the_others() -> None:
    """A replica's own publishes come back from the channel and are dropped unparsed; another replica's
    signed payload is delivered; one signed with another key is counted as rejected."""
    got: list[Message] = []
    rejected: list[int] = []
    key = b"k" * 32
    fanout = Fanout("redis://127.0.0.1:1", "c", got.append, key=key, on_reject=lambda: rejected.append(1))
    m = Message(1, "r", "c1", "u", "b", 1.0, 1)
    for origin, k in ((fanout.origin, key), ("x" * 32, key), ("y" * 32, b"z" * 32)):
        fanout._handle({"type": "message", "data": sign(k, orjson.dumps({"origin": origin, "message": m.to_json()}))})
    assert got == [m] and rejected == [1]


def test_fanout_delivers_a_published_batch_in_order_and_rejects_it_whole_when_one_is_malformed() -> None:
    """A payload of several messages (one PUBLISH per publisher batch) is delivered in its order; a batch with
    one malformed message is rejected whole (counted once), delivering none of it."""
    got: list[Message] = []
    rejected: list[int] = []
    key = b"k" * 32
    fanout = Fanout("redis://127.0.0.1:1", "c", got.append, key=key, on_reject=lambda: rejected.append(1))
    batch = [Message(i, "r", f"c{i}", "u", "b", 1.0, i) for i in (1, 2, 3)]

    def publish(messages: list[dict[str, object]]) -> None:
        body = orjson.dumps({"origin": "x" * 32, "messages": messages})
        fanout._handle({"type": "message", "data": sign(key, body)})

    publish([m.to_json() for m in batch])
    publish([batch[0].to_json(), {"id": "not a number"}])
    assert got == batch and rejected == [1]
