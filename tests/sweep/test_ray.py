"""Trials on Ray: a local instance (two CPUs, no dashboard, loopback only) writes the same rows as serial."""

from __future__ import annotations

import pandas as pd
import pytest

from sweep.test_sweep import SCENARIO, dump, sweep

ray = pytest.importorskip("ray", reason="ray is in the dev extra: pip install -e '.[dev]'")


@pytest.fixture
def local_ray(monkeypatch):
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage report: no network beyond loopback
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_writes_the_same_rows_as_serial(scenario_file, tmp_path, local_ray):
    path = scenario_file(SCENARIO, n=50, difficulty=0.6)
    sweep(path, tmp_path / "serial.duckdb")
    sweep(path, tmp_path / "ray.duckdb", executor="ray")
    serial, on_ray = dump(tmp_path / "serial.duckdb"), dump(tmp_path / "ray.duckdb")
    assert len(serial["runs"]) == 6 and len(serial["requests"]) == 300
    for name in serial:
        pd.testing.assert_frame_equal(serial[name], on_ray[name])
    assert ray.is_initialized()  # the sweep used the instance it was given and left it running
