"""Sweeps: many runs of one base config, each with some keys changed.

A sweep file names a base config, a ``grid:`` (a list of values per dotted key: every
combination runs) and/or a ``random:`` section (``trials`` draws from seeded
distributions). Each trial is an ordinary run directory ``<sweep dir>/trials/<NNN>``; the
sweep directory gathers ``results.csv`` (rewritten whole, atomically, after every finished
trial) and ``sweep.png``. Every trial's config is validated before anything runs.

Trials run through an executor (:mod:`dlcli.sweep.executors`): local processes or a Dask
distributed cluster, both calling the same top-level :func:`dlcli.sweep.run.run_trial`.

Rooms: :mod:`~dlcli.sweep.spec` (the sweep file), :mod:`~dlcli.sweep.executors`,
:mod:`~dlcli.sweep.results` (trial results, results.csv, sweep.png) and
:mod:`~dlcli.sweep.run` (a trial, the whole sweep).

Nothing here prints: progress reaches the caller through ``on_trial(result, done, total)``.
"""
