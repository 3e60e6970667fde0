"""The figures of bench's simulations (tools/bench_sim.py, CPython), asserted: one token per
lifetime awake and across deep sleep, a fleet's retries spread over the Retry-After window, a
fleet latched on ungranted_scope back within the longest wait of the grant, unvisited."""
import functools

from bench_sim import (
    CALL_EVERY_S,
    DAY_S,
    FLEET,
    GRANT_FIXED_S,
    LONGEST_WAIT_S,
    RETRY_AFTER_S,
    SimClock,
    fleet,
    fleet_latched,
    tokens_per_day,
)

# each fleet of 1,000 takes seconds: simulated once, asserted by every test that needs it
latched = functools.cache(fleet_latched)
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


def test_a_fleet_latched_on_ungranted_scope_recovers_unvisited_within_the_longest_wait():
    # finding 4: every latch was forever, so a scope granted late in the hub needed a visit
    # to each device; now each asks again after its long wait, jittered
    assert LONGEST_WAIT_S == 86400
    for fixed in GRANT_FIXED_S:  # the grant made after 1 h, 10 h, 3 days
        f = latched(fixed)
        assert f["unfinished"] == 0 and f["early_refusals"] == 0, f
        assert 0 < f["all_hold_a_token_s"] <= LONGEST_WAIT_S, f
        assert f["shortest_gap_s"] >= 1800, f  # never a fast retry: half the first window
        # at most one attempt per half window: 1 h, 2 h, ... then a day's cap (12 to 24 h)
        assert f["attempts_per_device_day"] <= (24.0 if fixed < 86400 else 2.5), f


def test_the_latched_fleet_comes_back_spread_not_in_step():
    f = latched(36000)
    # the densest wave, the first retries: all 1,000 within the second half hour
    assert 1700 <= f["wave_span_s"] <= 1800, f
    assert f["wave_peak_per_s"] <= 8, f  # in step it would be 1,000 in one second
    assert f["wave_peak_ratio_2pct"] <= 2.0, f  # flat: bench's target
    assert fleet_latched(36000, n=200, seed=7) == fleet_latched(36000, n=200, seed=7)
