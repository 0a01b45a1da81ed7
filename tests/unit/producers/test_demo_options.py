"""A scenario demo plays on the run its alerts are measured on, unless told otherwise."""

from __future__ import annotations

from producers.demo.options import DemoOptions
from producers.incidents import SCENARIO_RUN


def test_a_model_incident_comes_after_the_alert_warm_up_of_the_scenario_run():
    options = DemoOptions.for_scenario("drift")
    (incident,) = options.played().incidents
    assert options.alert_warmup_examples == SCENARIO_RUN.alert_warmup_examples
    # examples learned by the incident: one per query, less the attribution window's worth
    learned = (incident.start_s - options.attribution_window_s) * options.rate_per_s
    assert learned > 1.2 * options.alert_warmup_examples
    (corruption,) = DemoOptions.for_scenario("label-corruption").played().incidents
    assert corruption.start_s == incident.start_s < corruption.end_s < options.duration_s


def test_what_the_user_sets_wins_and_the_default_show_keeps_its_own():
    options = DemoOptions.for_scenario("stale", duration_s=60.0, live=False)
    assert (options.duration_s, options.rate_per_s, options.live) == (60.0, 250.0, False)
    assert options.played().incidents[0].start_s == 20.0
    show = DemoOptions()
    assert show.played() is None and show.alert_warmup_examples is None
