"""Exports of a real published open dataset (the simulated business registry through the
real pipeline): every format holds exactly the curated snapshot's public columns and rows,
`frictionless validate` passes on the datapackage, sizes and hashes are right, no personal
value appears in any file, a wrongly classified spec is refused naming the column, an
interrupted export publishes nothing, and old snapshots' exports are pruned to `keep`."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from control import db
from control.models import CatalogDistribution, CatalogExportRefusal, CatalogRun
from lgsp import pipeline
from lgsp.config import Settings
from opendata import formats as fmt_module
from opendata.classification import ExportRefused
from opendata.exports import current_distributions, current_snapshot, export_dataset, export_files
from registries.business.drop import drop_day, initial_drop
from tests.business.conftest import spec_for
from tests.opendata.conftest import Published
from warehouse.query import snapshot_files

PUBLIC = ["enterprise_code", "unit_type", "name", "legal_form", "status_code", "address",
          "commune_code", "commune_code_era", "sector_code", "registered_date", "updated_at"]


@pytest.fixture(scope="module")
def exported(business_home: Published):  # type: ignore[no-untyped-def]
    return export_dataset(business_home.spec, business_home.settings)


def _curated_rows(settings: Settings) -> list[dict[str, object]]:
    files = snapshot_files(settings, "curated", "business_registry")
    con = duckdb.connect()
    src = "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"
    cur = con.execute(f"SELECT {', '.join(PUBLIC)} FROM {src} ORDER BY enterprise_code")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _as_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _file(settings: Settings, manifest, fmt: str) -> Path:  # type: ignore[no-untyped-def]
    return settings.home / next(f.path for f in manifest.files if f.format == fmt)


def test_every_format_holds_the_snapshot_public_rows(business_home: Published, exported) -> None:  # type: ignore[no-untyped-def]
    settings = business_home.settings
    expected = [{k: _as_text(v) for k, v in r.items()} for r in _curated_rows(settings)]
    assert len(expected) > 100
    assert exported.row_count == len(expected)
    assert exported.columns == PUBLIC

    def by_key(rows: list[dict[str, str]]) -> list[dict[str, str]]:  # files keep the snapshot's order
        return sorted(rows, key=lambda r: str(r["enterprise_code"]))

    with _file(settings, exported, "csv").open(encoding="utf-8", newline="") as fh:
        assert by_key(list(csv.DictReader(fh))) == expected
    raw = _file(settings, exported, "csv-bom").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw[3:] == _file(settings, exported, "csv").read_bytes()

    def from_json(records: list[dict[str, object]]) -> list[dict[str, str]]:
        return [{k: _as_text(v) for k, v in r.items()} for r in records]

    ndjson = _file(settings, exported, "ndjson").read_text("utf-8").splitlines()
    assert by_key(from_json([json.loads(line) for line in ndjson])) == expected
    array = json.loads(_file(settings, exported, "json").read_text("utf-8"))
    assert by_key(from_json(array)) == expected

    table = pq.read_table(_file(settings, exported, "parquet"))
    assert table.column_names == PUBLIC
    parquet_rows = [{k: _as_text(v) for k, v in r.items()} for r in table.to_pylist()]
    assert by_key(parquet_rows) == expected
    in_file_order = [r["enterprise_code"] for r in parquet_rows]

    book = openpyxl.load_workbook(_file(settings, exported, "xlsx"), read_only=True)
    rows = list(book["data"].iter_rows(values_only=True))
    assert list(rows[0]) == PUBLIC
    xlsx = [dict(zip(PUBLIC, r, strict=True)) for r in rows[1:]]
    assert [r["enterprise_code"] for r in xlsx] == in_file_order, "every format in one order"
    xlsx.sort(key=lambda r: str(r["enterprise_code"]))
    assert len(xlsx) == len(expected)
    for got, want in zip(xlsx, expected, strict=True):
        for k in PUBLIC:
            value = got[k]
            if isinstance(value, datetime):
                value = (value.date().isoformat() if k == "registered_date"
                         else value.strftime("%Y-%m-%dT%H:%M:%S"))
                assert want[k].startswith(value)
            else:
                assert _as_text(value) == want[k], (k, value, want[k])


def test_sizes_hashes_and_distributions(business_home: Published, exported) -> None:  # type: ignore[no-untyped-def]
    settings = business_home.settings
    assert {f.format for f in exported.files} == {"csv", "csv-bom", "parquet", "ndjson", "json", "xlsx"}
    for f in exported.files:
        path = settings.home / f.path
        assert path.stat().st_size == f.byte_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256
    dists = current_distributions(settings, "business_registry")
    assert {(d.format, d.sha256, d.snapshot_id) for d in dists} == {
        (f.format, f.sha256, exported.snapshot_id) for f in exported.files}
    with db.session(settings) as s:
        runs = list(s.scalars(select(CatalogRun).where(CatalogRun.dataset_id == "business_registry")))
    assert [r.snapshot_id for r in runs] == [exported.snapshot_id]  # lineage: run -> snapshot
    assert runs[0].connector == "file_drop" and runs[0].published_rows == exported.row_count


def test_the_same_snapshot_exports_the_same_bytes(business_home: Published, exported) -> None:  # type: ignore[no-untyped-def]
    """No sort by key (it cost the Parquet step 3x): rows keep the snapshot's stored order,
    so a second export of the snapshot writes every file byte for byte the same."""
    settings = business_home.settings
    found = current_snapshot(settings, "business_registry")
    assert found is not None and found[0] == exported.snapshot_id
    again = export_files(business_home.spec, settings, *found, force=True)
    first = {f.format: f.sha256 for f in exported.files}
    assert [f.format for f in again.files if f.sha256 != first[f.format]] == []


def test_frictionless_validate_passes(business_home: Published, exported) -> None:  # type: ignore[no-untyped-def]
    folder = (business_home.settings.home / exported.files[0].path).parent
    result = subprocess.run(
        [str(Path(sys.executable).parent / "frictionless"), "validate", "--json",
         "datapackage.json"], cwd=folder, capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report, ensure_ascii=False)[:3000]
    assert len(report["tasks"]) == 6
    assert {t["stats"]["rows"] for t in report["tasks"]} == {exported.row_count}


def test_no_personal_value_in_any_file(business_home: Published, exported) -> None:  # type: ignore[no-untyped-def]
    settings = business_home.settings
    assert len(business_home.owner_ids) > 10
    for f in exported.files:
        path = settings.home / f.path
        if f.format in ("parquet", "xlsx"):
            con = duckdb.connect()
            text = " ".join(str(v) for r in pq.read_table(path).to_pylist() for v in r.values()) \
                if f.format == "parquet" else " ".join(
                    str(v) for row in openpyxl.load_workbook(path, read_only=True)["data"]
                    .iter_rows(values_only=True) for v in row)
            con.close()
        else:
            text = path.read_text("utf-8-sig")
        assert "owner_personal_id" not in text
        leaked = [pid for pid in business_home.owner_ids if pid in text]
        assert leaked == [], f"{f.format}: {len(leaked)} owner IDs leaked"


def test_wrongly_classified_spec_is_refused_naming_the_column(business_home: Published) -> None:
    settings = business_home.settings
    spec = business_home.spec
    wrong = spec.model_copy(update={"columns": [
        c.model_copy(update={"classification": "public"}) if c.name == "owner_personal_id" else c
        for c in spec.columns]})
    before = sorted(p.name for p in (settings.home / "opendata" / spec.id).glob("*"))
    with pytest.raises(ExportRefused, match="'owner_personal_id'") as err:
        export_dataset(wrong, settings)
    assert "CCCD" in str(err.value)
    assert not any(pid in str(err.value) for pid in business_home.owner_ids)
    assert sorted(p.name for p in (settings.home / "opendata" / spec.id).glob("*")) == before
    with db.session(settings) as s:
        refusal = s.scalars(select(CatalogExportRefusal)).all()[-1]
    assert refusal.findings[0]["column"] == "owner_personal_id" and refusal.findings[0]["rows"] > 0


def test_an_export_failing_midway_publishes_nothing(business_home: Published, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A fresh copy of the home so the module's export is untouched.
    settings = business_home.settings
    folder = settings.home / "opendata" / "business_registry"
    before = sorted(p.name for p in folder.glob("*")) if folder.exists() else []
    with db.session(settings) as s:
        dists_before = s.scalars(select(CatalogDistribution.id)).all()

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    import shutil
    for d in folder.glob("[0-9]*"):
        shutil.rmtree(d)  # force a new export of the current snapshot
    monkeypatch.setitem(fmt_module.FORMATS, "xlsx",
                        fmt_module.FORMATS["xlsx"].__class__(
                            **{**fmt_module.FORMATS["xlsx"].__dict__, "write": broken}))
    with pytest.raises(OSError, match="disk full"):
        export_dataset(business_home.spec, settings)
    assert sorted(p.name for p in folder.glob("*")) == []  # no half export, no temp folder
    monkeypatch.undo()
    again = export_dataset(business_home.spec, settings)
    assert sorted(p.name for p in folder.glob("*")) == [str(again.snapshot_id)]
    assert before == [str(again.snapshot_id)]
    with db.session(settings) as s:
        assert sorted(s.scalars(select(CatalogDistribution.id)).all()) == sorted(dists_before)


def test_previous_snapshots_kept_up_to_keep(settings: Settings, tmp_path: Path) -> None:
    drop = initial_drop(tmp_path / "drop", 1500, seed=5, as_of="2026-11-01")
    folder = drop.files[0].parent
    spec = spec_for(folder)
    snapshots = []
    for day in (None, "2026-11-02", "2026-11-03"):
        if day:
            drop_day(folder, day, 1500, seed=5, as_of="2026-11-01")
        summary = pipeline.run_dataset(spec, settings, use_gx=False)
        assert not summary.blocked
        snapshots.append(export_dataset(spec, settings, keep=2).snapshot_id)
    assert len(set(snapshots)) == 3
    kept = sorted(p.name for p in (settings.opendata_dir / spec.id).iterdir())
    assert kept == sorted(str(s) for s in snapshots[1:])
    with db.session(settings) as s:
        dists = s.scalars(select(CatalogDistribution)).all()
    assert {d.snapshot_id for d in dists} == set(snapshots[1:])
    assert {d.snapshot_id for d in dists if d.current} == {snapshots[2]}
    assert all((settings.home / d.path).exists() for d in dists)


def test_formula_cells_are_neutralised_in_csv_and_xlsx(tmp_path: Path) -> None:
    src = tmp_path / "src.parquet"
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM (VALUES (1, '=HYPERLINK(\"http://x\")'), (2, '@SUM(A1)'), "
                f"(3, '-2+3'), (4, 'Công ty A')) v(n, name)) TO '{src}' (FORMAT parquet)")
    cols = [("n", "INTEGER"), ("name", "VARCHAR")]
    fmt_module.write_csv(con, src, tmp_path / "o.csv", cols)
    fmt_module.write_xlsx(con, src, tmp_path / "o.xlsx", cols)
    with (tmp_path / "o.csv").open(newline="", encoding="utf-8") as fh:
        names = [r["name"] for r in csv.DictReader(fh)]
    want = ["'=HYPERLINK(\"http://x\")", "'@SUM(A1)", "'-2+3", "Công ty A"]
    assert names == want
    sheet = openpyxl.load_workbook(tmp_path / "o.xlsx")["data"]
    assert [sheet.cell(row=i, column=2).value for i in range(2, 6)] == want
    assert all(sheet.cell(row=i, column=2).data_type == "s" for i in range(2, 6))
    assert [sheet.cell(row=i, column=1).value for i in range(2, 6)] == [1, 2, 3, 4]
