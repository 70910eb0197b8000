"""metadata.yaml follows Airbyte conventions and agrees with pyproject, spec.json, Dockerfile and docs."""

from __future__ import annotations

import re
import sys
import uuid
from typing import Any

import pytest
import yaml
from scripts.spec_tables import ROOT, section

from destination_dust.config import load_spec
from tests.packaging.test_dockerfile import parse_dockerfile

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def meta() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "metadata.yaml").read_text(encoding="utf-8"))
    assert set(data) == {"data"}, "everything sits under `data:`"
    return dict(data["data"])


def docs_changelog_versions() -> list[str]:
    docs = (ROOT / "docs" / "integrations" / "destinations" / "dust.md").read_text(encoding="utf-8")
    changelog = section(docs, "Changelog") or ""
    return re.findall(r"^\|\s*(\d+\.\d+\.\d+)\s*\|", changelog, re.M)


def test_version_is_the_same_everywhere(pyproject: dict[str, Any], meta: dict[str, Any]) -> None:
    version = pyproject["project"]["version"]
    assert SEMVER.match(version)
    assert meta["dockerImageTag"] == version, "metadata.yaml dockerImageTag != pyproject version"
    versions = docs_changelog_versions()
    assert versions, "the docs changelog has no version row"
    assert versions[0] == version, f"newest docs changelog row is {versions[0]}, pyproject says {version}"
    labels = dict(a.split("=", 1) for i, a in parse_dockerfile() if i == "LABEL")
    assert labels.get("io.airbyte.version") == version, (
        "Dockerfile LABEL io.airbyte.version != pyproject version"
    )


def test_changelog_versions_are_unique_and_newest_first() -> None:
    versions = docs_changelog_versions()
    keys = [tuple(int(p) for p in v.split(".")) for v in versions]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys), versions


def test_identity_fields(meta: dict[str, Any], pyproject: dict[str, Any]) -> None:
    assert meta["connectorType"] == "destination"
    assert meta["connectorSubtype"] in {"vectorstore", "api"}
    assert str(uuid.UUID(meta["definitionId"])) == meta["definitionId"], (
        "definitionId must be a lowercase UUID"
    )
    assert meta["definitionId"] == "2888ea15-66a9-4478-b25e-70b2f4a9df84", "definitionId must never change"
    assert meta["dockerRepository"] == "airbyte/destination-dust"
    assert meta["releaseStage"] == "alpha"
    assert meta["supportLevel"] == "community"
    assert meta["metadataSpecVersion"] == "1.0"
    labels = dict(a.split("=", 1) for i, a in parse_dockerfile() if i == "LABEL")
    assert labels.get("io.airbyte.name") == meta["dockerRepository"]


def test_documentation_url_matches_spec_and_docs_path(meta: dict[str, Any]) -> None:
    spec = load_spec()
    assert meta["documentationUrl"] == spec["documentationUrl"]
    assert meta["documentationUrl"].endswith("/integrations/destinations/dust")
    assert (ROOT / "docs" / "integrations" / "destinations" / "dust.md").is_file()


def test_pypi_registry_names_the_distribution(meta: dict[str, Any], pyproject: dict[str, Any]) -> None:
    pypi = meta["remoteRegistries"]["pypi"]
    assert pypi == {"enabled": True, "packageName": pyproject["project"]["name"]}
    # PyAirbyte runs `<venv>/bin/destination-dust`, so the console script must have exactly that name
    assert "destination-dust" in pyproject["project"]["scripts"]


def test_tags_do_not_claim_the_cdk(meta: dict[str, Any], pyproject: dict[str, Any]) -> None:
    assert "language:python" in meta["tags"]
    deps = " ".join(pyproject["project"]["dependencies"])
    uses_cdk = "airbyte-cdk" in deps or "airbyte_cdk" in deps
    assert ("cdk:python" in meta["tags"]) == uses_cdk


def test_base_image_is_python_connector_base_4x_and_equals_dockerfile_from(meta: dict[str, Any]) -> None:
    base = meta["connectorBuildOptions"]["baseImage"]
    assert re.fullmatch(r"docker\.io/airbyte/python-connector-base:4\.\d+\.\d+@sha256:[0-9a-f]{64}", base), (
        base
    )
    froms = [a for i, a in parse_dockerfile() if i == "FROM"]
    assert froms == [base]


def test_allowed_hosts_are_the_two_dust_regions(meta: dict[str, Any]) -> None:
    spec = load_spec()
    regions = {
        url.split("://", 1)[1]
        for url in spec["connectionSpecification"]["properties"]["base_url"]["examples"]
    }
    assert set(meta["allowedHosts"]["hosts"]) == regions == {"dust.tt", "eu.dust.tt"}


def test_supports_refreshes_is_a_decision(meta: dict[str, Any]) -> None:
    assert isinstance(meta["supportsRefreshes"], bool)
    sync_modes = ROOT / "docs" / "sync-modes.md"
    if meta["supportsRefreshes"]:
        assert sync_modes.is_file() and "refresh" in sync_modes.read_text(encoding="utf-8").lower(), (
            "supportsRefreshes: true needs docs/sync-modes.md to record the refresh tests"
        )
