"""DCAT-AP 3.0 description of the open-data catalogue, built with rdflib from the catalogue
in the control database: the Catalogue, each open Dataset (titles and descriptions in vi and
en, keywords, EU data theme, EU frequency, the owner agency as publisher and contact point,
modified date, the quality score), and each current export file as a Distribution (access
and download URL, EU file type, IANA media type, licence, byte size, sha256 checksum in SPDX).

Served at /catalog.ttl, /catalog.jsonld, /catalog.rdf (and /catalog with content
negotiation), and per dataset at /catalog/dataset/<id>[.ttl|.jsonld|.rdf]. What the project
promises is written as SHACL shapes in `opendata/dcat_shapes.ttl` and checked with pyshacl
in the tests.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from catalog import catalogue
from control.models import CatalogDataset
from lgsp.config import Settings
from opendata import vocabularies as vocab
from opendata.exports import current_distributions
from opendata.formats import FORMATS

SHAPES = Path(__file__).with_name("dcat_shapes.ttl")
DCATAP = Namespace("http://data.europa.eu/r5r/")
SPDX = Namespace("http://spdx.org/rdf/terms#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
LGSP = Namespace("https://lgsp.example.gov.vn/ns#")
PUBLISHER_TYPE = URIRef("http://purl.org/adms/publishertype/RegionalAuthority")
SERIALISATIONS = {"ttl": ("turtle", "text/turtle"), "jsonld": ("json-ld", "application/ld+json"),
                  "rdf": ("pretty-xml", "application/rdf+xml")}


def _agent(g: Graph, base: str, entry: CatalogDataset) -> URIRef:
    agent = URIRef(f"{base}organization/{entry.owner_slug}")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(entry.owner_vi, lang="vi")))
    g.add((agent, FOAF.name, Literal(entry.owner_en, lang="en")))
    g.add((agent, DCTERMS.type, PUBLISHER_TYPE))
    return agent


def _contact(g: Graph, base: str, entry: CatalogDataset) -> URIRef:
    kind = URIRef(f"{base}organization/{entry.owner_slug}#contact")
    g.add((kind, RDF.type, VCARD.Kind))
    g.add((kind, RDF.type, VCARD.Organization))
    g.add((kind, VCARD.fn, Literal(entry.owner_vi, lang="vi")))
    if entry.contact:
        g.add((kind, VCARD.hasEmail, URIRef(f"mailto:{entry.contact}")))
    return kind


def _dataset(g: Graph, settings: Settings, base: str, entry: CatalogDataset) -> URIRef:
    ds = URIRef(f"{base}catalog/dataset/{entry.id}")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(entry.id)))
    for lang, title, text in (("vi", entry.title_vi, entry.description_vi),
                              ("en", entry.title_en, entry.description_en)):
        g.add((ds, DCTERMS.title, Literal(title, lang=lang)))
        g.add((ds, DCTERMS.description, Literal(text, lang=lang)))
    for word in entry.keywords:
        g.add((ds, DCAT.keyword, Literal(word, lang="vi")))
    g.add((ds, DCAT.theme, URIRef(vocab.EU_THEME + entry.theme)))
    code, _days = vocab.frequency(entry.update_frequency)
    if code:
        g.add((ds, DCTERMS.accrualPeriodicity, URIRef(vocab.EU_FREQ + code)))
    g.add((ds, DCTERMS.publisher, _agent(g, base, entry)))
    g.add((ds, DCAT.contactPoint, _contact(g, base, entry)))
    g.add((ds, DCAT.landingPage, URIRef(f"{base}api/3/action/package_show?id={entry.id}")))
    runs = catalogue.runs(settings, entry.id)
    if runs:
        last = runs[-1]
        published = last.published_at if last.published_at.tzinfo else \
            last.published_at.replace(tzinfo=UTC)
        g.add((ds, DCTERMS.modified, Literal(published.isoformat(), datatype=XSD.dateTime)))
        g.add((ds, DCTERMS.issued, Literal(runs[0].published_at.isoformat(),
                                            datatype=XSD.dateTime)))
        g.add((ds, LGSP.qualityScore, Literal(round(last.quality_score, 3), datatype=XSD.decimal)))
        if last.snapshot_id:
            g.add((ds, DCAT.version, Literal(str(last.snapshot_id))))
    licence = vocab.LICENCES.get(entry.licence)
    for dist in current_distributions(settings, entry.id):
        fmt = FORMATS[dist.format]
        node = URIRef(f"{base}catalog/distribution/{dist.id}")
        url = URIRef(f"{base}download/{dist.dataset_id}/{dist.snapshot_id}/{dist.format}")
        g.add((ds, DCAT.distribution, node))
        g.add((node, RDF.type, DCAT.Distribution))
        g.add((node, DCTERMS.title, Literal(fmt.title, lang="en")))
        g.add((node, DCTERMS.description, Literal(
            f"{fmt.title}: {dist.row_count:,} rows, snapshot {dist.snapshot_id}", lang="en")))
        g.add((node, DCAT.accessURL, url))
        g.add((node, DCAT.downloadURL, url))
        g.add((node, DCTERMS.format, URIRef(vocab.EU_FILE_TYPE + vocab.FILE_TYPES[dist.format])))
        g.add((node, DCAT.mediaType, URIRef(vocab.IANA_MEDIA + dist.media_type)))
        g.add((node, DCAT.byteSize, Literal(dist.byte_size, datatype=XSD.nonNegativeInteger)))
        if licence:
            g.add((node, DCTERMS.license, URIRef(vocab.EU_LICENCE + licence[0])))
        checksum = BNode()
        g.add((node, SPDX.checksum, checksum))
        g.add((checksum, RDF.type, SPDX.Checksum))
        g.add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha256))
        g.add((checksum, SPDX.checksumValue, Literal(dist.sha256, datatype=XSD.hexBinary)))
        g.add((node, DCTERMS.modified, Literal(dist.created_at.isoformat(), datatype=XSD.dateTime)))
    return ds


def _graph() -> Graph:
    g = Graph()
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("spdx", SPDX),
                       ("vcard", VCARD), ("dcatap", DCATAP), ("lgsp", LGSP), ("adms", ADMS)):
        g.bind(prefix, ns)
    return g


def catalog_graph(settings: Settings, base: str) -> Graph:
    g = _graph()
    cat = URIRef(f"{base}catalog")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal("Dữ liệu mở của tỉnh", lang="vi")))
    g.add((cat, DCTERMS.title, Literal("Open data of the province", lang="en")))
    g.add((cat, DCTERMS.description, Literal(
        "Dữ liệu mở từ trục chia sẻ dữ liệu (LGSP) của tỉnh, kèm điểm chất lượng.", lang="vi")))
    g.add((cat, DCTERMS.description, Literal(
        "Open data from the province's shared-data bus (LGSP), with quality scores.", lang="en")))
    g.add((cat, FOAF.homepage, URIRef(base)))
    g.add((cat, DCAT.themeTaxonomy, URIRef(vocab.EU_THEME.rstrip("/"))))
    centre = URIRef(f"{base}organization/provincial-data-centre")
    g.add((centre, RDF.type, FOAF.Agent))
    g.add((centre, FOAF.name, Literal("Trung tâm Dữ liệu tỉnh", lang="vi")))
    g.add((centre, FOAF.name, Literal("Provincial Data Centre", lang="en")))
    g.add((centre, DCTERMS.type, PUBLISHER_TYPE))
    g.add((cat, DCTERMS.publisher, centre))
    latest: list[str] = []
    for entry in catalogue.entries(settings):
        ds = _dataset(g, settings, base, entry)
        g.add((cat, DCAT.dataset, ds))
        latest += [str(m) for m in g.objects(ds, DCTERMS.modified)]
    if latest:  # the catalogue changed when its newest dataset did (stable between requests)
        g.add((cat, DCTERMS.modified, Literal(max(latest), datatype=XSD.dateTime)))
    return g


def dataset_graph(settings: Settings, base: str, dataset: str) -> Graph | None:
    entry = catalogue.entry(settings, dataset)
    if entry is None or not entry.open_data:
        return None
    g = _graph()
    _dataset(g, settings, base, entry)
    return g


router = APIRouter(tags=["dcat"])


def _negotiate(request: Request) -> str:
    accept = request.headers.get("accept", "")
    for ext, (_fmt, media) in SERIALISATIONS.items():
        if media in accept:
            return ext
    if "application/json" in accept:
        return "jsonld"
    if "application/xml" in accept or "text/xml" in accept:
        return "rdf"
    return "ttl"


def _render(graph: Graph, ext: str) -> Response:
    fmt, media = SERIALISATIONS[ext]
    return Response(graph.serialize(format=fmt), media_type=media, headers={"vary": "Accept"})


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


@router.get("/catalog")
def catalog_negotiated(request: Request) -> Response:
    return _render(catalog_graph(_settings(request), str(request.base_url)), _negotiate(request))


@router.get("/catalog.{ext}")
def catalog_file(request: Request, ext: str) -> Response:
    if ext not in SERIALISATIONS:
        raise HTTPException(404, f"no serialisation {ext!r}; use ttl, jsonld or rdf")
    return _render(catalog_graph(_settings(request), str(request.base_url)), ext)


@router.get("/catalog/dataset/{name}")
def dataset_description(request: Request, name: str) -> Response:
    ext = None
    for candidate in SERIALISATIONS:
        if name.endswith(f".{candidate}"):
            name, ext = name[: -len(candidate) - 1], candidate
    graph = dataset_graph(_settings(request), str(request.base_url), name)
    if graph is None:
        raise HTTPException(404, "no such open dataset")
    return _render(graph, ext or _negotiate(request))
