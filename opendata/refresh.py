"""After a publish: bring the catalogue entry up to date, for open data export the new
snapshot, and rebuild the open indicators computed from the dataset. Called by `lgsp run`
after each published dataset and by the Airflow DAG `lgsp_opendata_<id>`, scheduled on the
dataset's curated Asset.

Never undoes a publish: the outcome says what happened (exported, refused with the findings,
not open, nothing published) and the caller reports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog import catalogue
from catalog.spec import DatasetSpec
from lgsp.config import Settings
from opendata.classification import ClassificationError, ExportRefused
from opendata.exports import NothingToExport, export_dataset


@dataclass(frozen=True)
class RefreshOutcome:
    dataset: str
    status: str
    """exported | refused | not-open | nothing-published"""
    message: str
    snapshot_id: int | None = None
    files: int = 0


def refresh_dataset(spec: DatasetSpec, settings: Settings, keep: int | None = None) -> RefreshOutcome:
    catalogue.sync_dataset(spec, settings)
    if not spec.open_data:
        return RefreshOutcome(spec.id, "not-open", "catalogue updated; not open data")
    try:
        manifest = export_dataset(spec, settings, keep=keep)
    except ExportRefused as refused:
        return RefreshOutcome(spec.id, "refused", str(refused))
    except ClassificationError as err:
        return RefreshOutcome(spec.id, "refused", str(err))
    except NothingToExport as err:
        return RefreshOutcome(spec.id, "nothing-published", str(err))
    return RefreshOutcome(spec.id, "exported",
                          f"{len(manifest.files)} files, {manifest.row_count:,} rows",
                          manifest.snapshot_id, len(manifest.files))


def refresh_indicators(spec: DatasetSpec, settings: Settings, keep: int | None = None
                       ) -> list[RefreshOutcome]:
    """Rebuild the open indicators whose source is `spec` (opendata/indicator_specs); a
    linked group (opendata/indicators.linked_group) is suppressed and exported once."""
    from opendata.indicators import build_group, load_indicators

    outcomes = []
    every = load_indicators()
    mine = [i for i in every if i.source == spec.id]
    built: set[str] = set()
    for ind in mine:
        if ind.id in built:  # exported with a linked one already
            continue
        try:
            manifests = build_group(ind, settings, keep=keep, every=every)
        except (ExportRefused, ClassificationError) as err:
            outcomes.append(RefreshOutcome(ind.id, "refused", str(err)))
            continue
        except NothingToExport as err:
            outcomes.append(RefreshOutcome(ind.id, "nothing-published", str(err)))
            continue
        built.update(manifests)
        for member in mine:
            manifest = manifests.get(member.id)
            if manifest is not None:
                outcomes.append(RefreshOutcome(member.id, "exported",
                                               f"{len(manifest.files)} files, {manifest.row_count:,} rows",
                                               manifest.snapshot_id, len(manifest.files)))
    return outcomes


def refresh_after_publish(spec: DatasetSpec, settings: Settings, keep: int | None = None
                          ) -> list[RefreshOutcome]:
    """The dataset's own refresh, then its indicators'."""
    return [refresh_dataset(spec, settings, keep), *refresh_indicators(spec, settings, keep)]
