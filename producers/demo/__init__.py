"""The demo: embedded broker, one worker, the simulated world, a live view and a summary.

``adstream demo --duration 60 --rate 200 --seed 7`` starts the broker (unless ``ADSTREAM_KAFKA``
names one), a worker process and the simulator; shows queries/s, latency, CTR, the click
model's health and the alerts raised while it runs; then writes
``runs/<timestamp>/summary.json`` (and ``runs/latest``) and prints a summary table.

``--scenario NAME`` plays one of :data:`producers.incidents.SCENARIOS` instead of the default
show (a category launched and one retired, weights changed at half time): only what the
scenario names happens, on the run the scenarios are measured on (230 s at 250 queries/s,
see :meth:`~producers.demo.options.DemoOptions.for_scenario`) unless ``--duration`` and the
like say otherwise.

options  what a run plays (:class:`~producers.demo.options.DemoOptions`)
run      drives it: broker, worker process, simulator, weight changes (``run_demo``)
view     the live table while the traffic runs
summary  the summary's figures, ``summary.json`` and the summary table
cli      the ``adstream demo`` command's options
"""
