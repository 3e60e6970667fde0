"""The figures of bench's simulations (tools/bench_sim.py, CPython), asserted: one token per
lifetime awake and across deep sleep, a fleet's retries spread over the Retry-After window."""
from bench_sim import CALL_EVERY_S, DAY_S, FLEET, RETRY_AFTER_S, SimClock, fleet, tokens_per_day

CALLS = DAY_S // CALL_EVERY_S  # 288: an API call every 5 minutes


def test_one_token_per_lifetime_awake_and_across_deep_sleep():
    for lifetime, tokens in ((3600, 24), (599, 144)):  # 599 s: renewed every second call
        for deep_sleep in (False, True):
            assert tokens_per_day(lifetime, deep_sleep) == (tokens, CALLS), (lifetime, deep_sleep)
            assert tokens <= -(-DAY_S // lifetime)  # never more than one per lifetime


def test_a_token_shorter_than_the_call_interval_is_fetched_for_every_call():
    assert tokens_per_day(120, False) == (CALLS, CALLS)


def test_fleet_told_one_retry_after_spreads_its_retries_over_the_window():
    f = fleet(0)
    assert f["devices"] == FLEET and f["retries"] == FLEET  # one retry each, then a token
    assert f["unfinished"] == 0 and f["early_refusals"] == 0
    assert RETRY_AFTER_S <= f["first_retry_s"] and f["last_retry_s"] <= 2 * RETRY_AFTER_S
    assert f["peak_ratio"] <= 2.0  # bench's target
    assert f["peak_per_s"] <= 2 * FLEET / RETRY_AFTER_S


def test_fleet_through_a_five_minute_outage_gets_every_device_a_token():
    f = fleet(300)
    assert f["unfinished"] == 0 and f["early_refusals"] == 0
    assert f["retries"] > FLEET and f["first_retry_s"] >= RETRY_AFTER_S
    assert f["last_retry_s"] >= 300  # nobody got one while the server was down


def test_fleet_is_deterministic_for_a_seed():
    assert fleet(0, n=200, seed=7) == fleet(0, n=200, seed=7)
    assert fleet(0, n=200, seed=7) != fleet(0, n=200, seed=8)


def test_sim_clock_ticks_wrap_like_the_board():
    c = SimClock(start=(1 << 30) - 500)
    t0 = c.ticks_ms()
    c.advance(1000)
    assert c.ticks_ms() == 500 and c.ticks_diff(c.ticks_ms(), t0) == 1000
    assert c.elapsed == 1000 and c.unix_time() == 1767225601
