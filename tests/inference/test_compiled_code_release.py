"""Many NUTS fits in one process: JAX's caches are cleared before the kernel's memory-map limit is hit."""

import jax
import pytest

from probnn.inference import jax_bridge


def test_caches_cleared_only_past_the_fraction_of_the_map_limit(monkeypatch):
    cleared = []
    monkeypatch.setattr(jax, "clear_caches", lambda: cleared.append(True))
    monkeypatch.setattr(jax_bridge, "_memory_map_usage", lambda: (30000, 65530))
    assert not jax_bridge.release_compiled_code_if_needed()      # 46 % of the limit: keep the caches
    assert cleared == []
    monkeypatch.setattr(jax_bridge, "_memory_map_usage", lambda: (40000, 65530))
    assert jax_bridge.release_compiled_code_if_needed()          # 61 %: clear
    assert cleared == [True]
    monkeypatch.setattr(jax_bridge, "_memory_map_usage", lambda: None)   # not Linux: nothing to do
    assert not jax_bridge.release_compiled_code_if_needed()


def test_memory_map_usage_reads_this_process():
    usage = jax_bridge._memory_map_usage()
    if usage is None:
        pytest.skip("no /proc on this platform")
    held, limit = usage
    assert 0 < held < limit
