"""DCAT-AP 3.0 over real HTTP from `lgsp serve`: the catalogue parses in Turtle, JSON-LD and
RDF/XML (the same graph each way), conforms to our SHACL shapes (pyshacl), negotiates the
content type, and its checksums and sizes are those of the files actually downloaded. The
shapes themselves are shown to catch a missing mandatory property."""

from __future__ import annotations

import hashlib

import pytest
import requests
from pyshacl import validate
from rdflib import Graph, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, RDF

from opendata.dcat import SHAPES, SPDX
from tests.opendata.conftest import LiveServer
from tests.opendata.test_ckan_api import BUSINESS_IDS

FORMATS = {"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}


@pytest.fixture(scope="module")
def graphs(live_server: LiveServer) -> dict[str, Graph]:
    out = {}
    for ext, fmt in FORMATS.items():
        resp = requests.get(f"{live_server.url}/catalog.{ext}", timeout=60)
        assert resp.status_code == 200
        out[ext] = Graph().parse(data=resp.text, format=fmt)
    return out


def _conforms(graph: Graph) -> tuple[bool, str]:
    ok, _report, text = validate(graph, shacl_graph=str(SHAPES), shacl_graph_format="turtle",
                                 inference="none", allow_warnings=False)
    return bool(ok), str(text)


def test_three_serialisations_same_graph_and_conform(graphs: dict[str, Graph]) -> None:
    assert len(graphs["ttl"]) > 50
    assert isomorphic(graphs["ttl"], graphs["jsonld"]) and isomorphic(graphs["ttl"], graphs["rdf"])
    for ext, graph in graphs.items():
        ok, text = _conforms(graph)
        assert ok, f"{ext}: {text[:3000]}"


def test_datasets_distributions_and_checksums(graphs: dict[str, Graph]) -> None:
    g = graphs["ttl"]
    datasets = sorted(str(d) for d in g.subjects(RDF.type, DCAT.Dataset))
    assert [d.rsplit("/", 1)[-1] for d in datasets] == sorted([*BUSINESS_IDS, "land_parcels"])
    business = URIRef(next(d for d in datasets if d.endswith("business_registry")))
    assert {t.language for t in g.objects(business, DCTERMS.title)} == {"vi", "en"}
    dists = list(g.objects(business, DCAT.distribution))
    assert len(dists) == 6
    for dist in dists:
        url = str(g.value(dist, DCAT.downloadURL))
        body = requests.get(url, timeout=60).content
        checksum = g.value(dist, SPDX.checksum)
        assert str(g.value(checksum, SPDX.checksumValue)) == hashlib.sha256(body).hexdigest()
        assert int(g.value(dist, DCAT.byteSize)) == len(body)


def test_content_negotiation_and_per_dataset(live_server: LiveServer) -> None:
    for media, fmt in (("text/turtle", "turtle"), ("application/ld+json", "json-ld"),
                       ("application/rdf+xml", "xml")):
        resp = requests.get(f"{live_server.url}/catalog", headers={"Accept": media}, timeout=60)
        assert resp.headers["content-type"].startswith(media)
        assert len(Graph().parse(data=resp.text, format=fmt)) > 50
    one = requests.get(f"{live_server.url}/catalog/dataset/business_registry",
                       headers={"Accept": "application/ld+json"}, timeout=60)
    assert one.headers["content-type"].startswith("application/ld+json")
    graph = Graph().parse(data=one.text, format="json-ld")
    assert len(list(graph.subjects(RDF.type, DCAT.Dataset))) == 1
    ok, text = _conforms(graph)
    assert ok, text[:2000]
    ttl = requests.get(f"{live_server.url}/catalog/dataset/business_registry.ttl", timeout=60)
    assert isomorphic(Graph().parse(data=ttl.text, format="turtle"), graph)
    assert requests.get(f"{live_server.url}/catalog/dataset/population.ttl", timeout=60).status_code == 404
    assert requests.get(f"{live_server.url}/catalog.xyz", timeout=60).status_code == 404
    assert "owner_personal_id" not in ttl.text


def test_shapes_catch_missing_mandatory_properties(graphs: dict[str, Graph]) -> None:
    g = Graph()
    for triple in graphs["ttl"]:
        g.add(triple)
    dist = next(g.subjects(RDF.type, DCAT.Distribution))
    g.remove((dist, DCAT.accessURL, None))
    ok, text = _conforms(g)
    assert not ok and "accessURL" in text
    g2 = Graph()
    for triple in graphs["ttl"]:
        g2.add(triple)
    ds = next(g2.subjects(RDF.type, DCAT.Dataset))
    g2.remove((ds, DCTERMS.title, None))
    ok, text = _conforms(g2)
    assert not ok and "title" in text
