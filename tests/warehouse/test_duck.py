"""DuckDB connections spill under LGSP_HOME, not into the folder the process runs in."""

from __future__ import annotations

from warehouse import duck


def test_spill_folder_is_under_lgsp_home(settings, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with duck.connection(memory_limit="64MB", threads=1) as con:
        assert con.execute("SELECT current_setting('temp_directory')").fetchone()[0] == str(
            settings.home / "tmp" / "duckdb")
        # A sort larger than the limit spills there and still completes.
        n = con.execute("SELECT count(*) FROM (SELECT md5(i::VARCHAR) AS h FROM range(3000000) "
                        "t(i) ORDER BY h)").fetchone()[0]
    assert n == 3_000_000
    assert not (tmp_path / ".tmp").exists()
