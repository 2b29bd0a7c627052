"""DICOMweb archives as a source: a study URL for :func:`dosecalc.load`, an archive for
:func:`dosecalc.batch`.

QIDO-RS finds the studies that hold an RTPLAN (``ModalitiesInStudy=RTPLAN``, optionally
``StudyDate`` from a date on) and lists their series and instances; WADO-RS fetches only
the instances a plan needs into a local cache keyed by SOP Instance UID:

* every RTPLAN and RTDOSE of the study (small; their references decide the rest),
* the RTSTRUCT(s) the plans and doses reference (all RTSTRUCTs of the study when none is
  referenced),
* CT only where the job needs it (``ct=True``: :func:`dosecalc.load` of a study URL; the
  protocol check of a batch does not read CT).

A study is then *materialised* as a folder of hard links (copies across file systems)
to the cached files, ``<view>/<StudyInstanceUID>/<CT|RS|RP|RD>.<SOPInstanceUID>.dcm``,
and the folder pipeline does the rest: a cohort's view root holds one folder per
study, so batch keys are study UIDs (``#<plan UID>`` appended when a study holds several
plans), as for a folder cohort laid out one folder per study.  Cached files are never
fetched again and keep their modification times, so a second batch run fetches and
re-evaluates nothing.

The cache lives in ``$DOSECALC_CACHE`` or ``$XDG_CACHE_HOME/dosecalc`` (``~/.cache``) unless
a ``cache`` folder is given.  An instance is trusted by its UID: a server that changes an
instance's content without a new SOP Instance UID breaks DICOM's own rule, and the cache
does not notice (delete the cache to start afresh).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import DoseCalcError, ParameterError
from ..io.scan import Header, read_header
from . import is_url, require
from .store import PREFIX, valid_uid
from ..io.atomic import atomic_path

_STUDY_PATH = re.compile(r"^(?P<base>.*?)/studies/(?P<study>[0-9.]+)/?$")
RT_MODALITIES = ("RTPLAN", "RTDOSE", "RTSTRUCT")


class DicomWebError(DoseCalcError):
    """The archive could not be reached or answered with an error."""


def split_url(url: str) -> tuple[str, str | None]:
    """``http://h/dicom-web/studies/<UID>`` -> (``http://h/dicom-web``, ``<UID>``);
    an archive URL -> (url, None)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ParameterError(f"{url!r} is not an http(s) DICOMweb URL, e.g. http://host:8042/dicom-web")
    if parts.query or parts.fragment:
        raise ParameterError(f"{url}: a DICOMweb URL takes no query (use --study / --since)")
    m = _STUDY_PATH.match(url)
    if m:
        if not valid_uid(m.group("study")):
            raise ParameterError(f"{url}: {m.group('study')!r} is not a valid StudyInstanceUID")
        return m.group("base").rstrip("/"), m.group("study")
    return url.rstrip("/"), None


def parse_headers(items) -> dict[str, str]:
    """``["Authorization: Bearer x", ...]`` -> dict (HTTP headers for every request)."""
    out = {}
    for item in items or ():
        key, sep, value = str(item).partition(":")
        if not sep or not key.strip() or any(c in item for c in "\r\n"):
            raise ParameterError(f"--header {item!r}: expected 'NAME: VALUE', e.g. 'Authorization: Bearer TOKEN'")
        out[key.strip()] = value.strip()
    return out


def default_cache() -> Path:
    env = os.environ.get("DOSECALC_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "dosecalc"


def _since(value: str | None) -> str | None:
    if value is None:
        return None
    digits = value.replace("-", "")
    if not re.fullmatch(r"\d{8}", digits):
        raise ParameterError(f"--since {value!r}: expected a date YYYY-MM-DD or YYYYMMDD")
    return digits


def _value(attrs: dict, tag: str) -> list:
    return list((attrs.get(tag) or {}).get("Value") or [])


@dataclass
class FetchStats:
    """What one run asked of the archive."""

    studies: int = 0
    fetched: int = 0
    fetched_bytes: int = 0
    cached: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.studies} studies with an RTPLAN; {self.fetched} instances fetched "
                f"({self.fetched_bytes / 1e6:.1f} MB), {self.cached} from the cache"
                + (f"; {len(self.errors)} studies could not be fetched" if self.errors else ""))


class Archive:
    """A DICOMweb service root (``http://host:port/dicom-web``) with a local cache.

    Parameters
    ----------
    base : str
        Service root URL.
    headers : dict, optional
        HTTP headers sent with every request (authentication).
    cache : str or Path, optional
        Cache folder (default :func:`default_cache`).
    """

    def __init__(self, base: str, headers: dict | None = None, cache=None):
        web = require("dicomweb_client", "a DICOMweb source")
        self.url = base.rstrip("/")
        self.client = web.DICOMwebClient(url=self.url, headers=dict(headers or {}))
        # a busy archive (429/503/504) gets 3 tries 0.2-0.8 s apart, not 5 up to 16 s apart
        self.client.set_http_retry_params(retry=True, max_attempts=3, wait_exponential_multiplier=200)
        self.cache = Path(cache) if cache is not None else default_cache()
        self.instances = self.cache / "instances"
        # messages and file names never show the credentials of http://user:password@host
        parts = urlsplit(self.url)
        self.base = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        key = hashlib.sha1(self.base.encode()).hexdigest()[:12]
        host = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parts.hostname}_{parts.port or 80}")
        self.views = self.cache / "views" / f"{host}-{key}"
        try:
            self.instances.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"cache folder {self.cache}: cannot create ({exc.strerror})") from exc
        self.stats = FetchStats()

    # --- HTTP with one-line errors ----------------------------------------------------
    def _call(self, what: str, fn, *args, **kwargs):
        import requests

        try:
            return fn(*args, **kwargs)
        except requests.HTTPError as exc:
            code = getattr(exc.response, "status_code", "?")
            hint = " (authentication: give --header 'Authorization: ...')" if code in (401, 403) else ""
            raise DicomWebError(f"DICOMweb {self.base}: {what} answered HTTP {code}{hint}") from exc
        except requests.RequestException as exc:
            raise DicomWebError(f"DICOMweb {self.base}: {what} failed ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:200]})") from exc
        except ValueError as exc:  # dicomweb-client on an answer that is not DICOM JSON/multipart
            raise DicomWebError(f"DICOMweb {self.base}: {what}: unexpected answer ({exc})") from exc

    # --- QIDO-RS ---------------------------------------------------------------------
    def _search(self, what: str, fn, *args, page: int = 1000, **kwargs) -> list[dict]:
        """Every result of a QIDO-RS search, page by page.  Not dicomweb-client's
        get_remaining: a server that ignores ``offset`` (Orthanc's plugin 1.7 does when it
        holds fewer results than the limit) would make it loop for ever; here a page with
        nothing new ends the search."""
        import json as _json

        rows: list[dict] = []
        seen: set[str] = set()
        offset = 0
        while True:
            batch = self._call(what, fn, *args, limit=page, offset=offset, **kwargs) or []
            new = [r for r in batch if _json.dumps(r, sort_keys=True) not in seen]
            seen.update(_json.dumps(r, sort_keys=True) for r in new)
            rows += new
            if len(batch) < page or not new:
                return rows
            offset += len(batch)

    def find_studies(self, studies=(), since: str | None = None) -> list[str]:
        """StudyInstanceUIDs of the studies that hold an RTPLAN, sorted.

        Parameters
        ----------
        studies : list of str
            Only these (each must exist in the archive).
        since : str, optional
            Only studies with StudyDate on or after this date (YYYY-MM-DD).
        """
        filters = {"ModalitiesInStudy": "RTPLAN"}
        date = _since(since)
        if date:
            filters["StudyDate"] = f"{date}-"
        fields = ["StudyInstanceUID", "ModalitiesInStudy", "StudyDate"]
        found = []
        if studies:
            for uid in studies:
                if not valid_uid(uid):
                    raise ParameterError(f"--study {uid!r} is not a valid StudyInstanceUID")
                rows = self._call(f"QIDO-RS search for study {uid}", self.client.search_for_studies,
                                  search_filters={**filters, "StudyInstanceUID": uid}, fields=fields)
                if not rows:
                    raise DicomWebError(f"DICOMweb {self.base}: study {uid} not found, or it holds no RTPLAN"
                                        + (f", or its StudyDate is before {since}" if date else ""))
                found += rows
        else:
            found = self._search("QIDO-RS search for studies", self.client.search_for_studies,
                                 search_filters=filters, fields=fields)
        uids = set()
        for row in found:
            uid = str((_value(row, "0020000D") or [""])[0])
            modalities = {str(m) for m in _value(row, "00080061")}
            # a server that ignores the ModalitiesInStudy filter is filtered here
            if valid_uid(uid) and (not modalities or "RTPLAN" in modalities):
                uids.add(uid)
        return sorted(uids)

    def _series(self, study: str) -> dict[str, list[str]]:
        rows = self._search(f"QIDO-RS series of study {study}", self.client.search_for_series,
                            study, fields=["SeriesInstanceUID", "Modality"])
        out: dict[str, list[str]] = {}
        for row in rows:
            uid = str((_value(row, "0020000E") or [""])[0])
            modality = str((_value(row, "00080060") or [""])[0])
            if valid_uid(uid):
                out.setdefault(modality, []).append(uid)
        return out

    def _instances(self, study: str, series: str) -> list[str]:
        rows = self._search(f"QIDO-RS instances of series {series}", self.client.search_for_instances,
                            study, series, fields=["SOPInstanceUID"])
        return sorted({str(u) for row in rows for u in _value(row, "00080018") if valid_uid(str(u))})

    # --- WADO-RS into the cache ----------------------------------------------------------
    def _cached(self, sop: str) -> Path:
        return self.instances / f"{sop}.dcm"

    def _fetch(self, study: str, series: str, sops: list[str]) -> list[Path]:
        """Cached paths of ``sops`` (one series), fetching the missing ones."""
        missing = [s for s in sops if not self._cached(s).exists()]
        self.stats.cached += len(sops) - len(missing)
        if missing:
            media = (("application/dicom", "*"),)  # as stored: no transcoding by the server
            if len(missing) == len(sops) and len(sops) > 1:
                datasets = self._call(f"WADO-RS series {series}", self.client.iter_series,
                                      study, series, media_types=media)
            else:
                datasets = (self._call(f"WADO-RS instance {s}", self.client.retrieve_instance,
                                       study, series, s, media_types=media) for s in missing)
            want = set(missing)
            for ds in datasets:
                sop = str(ds.get("SOPInstanceUID", ""))
                if sop not in want:
                    continue
                with atomic_path(self._cached(sop)) as tmp:
                    ds.save_as(tmp, enforce_file_format=True)
                self.stats.fetched += 1
                self.stats.fetched_bytes += self._cached(sop).stat().st_size
            absent = [s for s in missing if not self._cached(s).exists()]
            if absent:
                raise DicomWebError(f"DICOMweb {self.base}: WADO-RS of series {series} did not return "
                                    f"{len(absent)} listed instance(s), e.g. {absent[0]}")
        return [self._cached(s) for s in sops]

    def study_files(self, study: str, ct: bool = False) -> list[tuple[str, Path]]:
        """(modality, cached file) of the instances a study's plans need, fetching what is
        missing."""
        series = self._series(study)
        heads: list[tuple[Header, Path]] = []
        for modality in ("RTPLAN", "RTDOSE"):
            for s in series.get(modality, []):
                for p in self._fetch(study, s, self._instances(study, s)):
                    heads.append((_header(p), p))
        wanted = {h.referenced_structure_set_uid for h, _ in heads if h.referenced_structure_set_uid}
        structs: list[tuple[Header, Path]] = []
        listed = {s: self._instances(study, s) for s in series.get("RTSTRUCT", [])}
        for s, sops in listed.items():
            pick = [u for u in sops if u in wanted]
            if pick:
                structs += [(_header(p), p) for p in self._fetch(study, s, pick)]
        if not structs:  # nothing referenced (or the reference points elsewhere): take them all
            for s, sops in listed.items():
                structs += [(_header(p), p) for p in self._fetch(study, s, sops)]
        files = [(h.modality, p) for h, p in heads + structs]
        if ct:
            refs = {u for h, _ in structs for u in h.referenced_series_uids}
            ct_series = [s for s in series.get("CT", []) if s in refs] or series.get("CT", [])
            for s in ct_series:
                files += [("CT", p) for p in self._fetch(study, s, self._instances(study, s))]
        return files

    def materialise(self, study: str, dest: Path, ct: bool = False) -> Path:
        """``dest`` holds exactly the study's needed instances (hard links to the cache)."""
        files = self.study_files(study, ct=ct)
        dest.mkdir(parents=True, exist_ok=True)
        names = {f"{PREFIX.get(modality, 'OT')}.{p.stem}.dcm": p for modality, p in files}
        for old in dest.iterdir():
            if old.name not in names:
                with contextlib.suppress(OSError):
                    old.unlink()
        for name, src in names.items():
            target = dest / name
            if target.exists():
                continue
            try:
                os.link(src, target)
            except OSError:
                shutil.copy2(src, target)
        return dest

    def materialise_cohort(self, studies=(), since: str | None = None, stream=None) -> Path:
        """The view root: one folder per study with an RTPLAN (only those of this run)."""
        uids = self.find_studies(studies, since)
        self.stats.studies = len(uids)
        root = self.views / "rt"
        root.mkdir(parents=True, exist_ok=True)
        keep = set(uids)
        for d in root.iterdir():
            if d.name not in keep:
                shutil.rmtree(d, ignore_errors=True)
        for uid in uids:
            try:
                self.materialise(uid, root / uid, ct=False)
            except DoseCalcError as exc:
                # the plan's evaluation then records the missing files; the others go on
                self.stats.errors.append(f"study {uid}: {exc}")
                if stream is not None:
                    stream.write(f"dosecalc: {exc} (study {uid} skipped)\n")
                shutil.rmtree(root / uid, ignore_errors=True)
        if stream is not None:
            stream.write(f"{self.base}: {self.stats.line()}\n")
        if not any(root.iterdir()):
            raise DicomWebError(f"DICOMweb {self.base}: no study with an RTPLAN"
                                + (f" since {since}" if since else "") + " could be fetched")
        return root


def _header(path: Path) -> Header:
    return read_header(path)


def fetch_study(url: str, *, ct: bool = True, headers: dict | None = None, cache=None) -> Path:
    """Materialise one study URL (``.../dicom-web/studies/<UID>``) as a local folder.

    Returns the folder (under the cache) for :func:`dosecalc.load`.
    """
    base, study = split_url(url)
    if study is None:
        raise ParameterError(f"{url}: load() needs a study URL, .../dicom-web/studies/<StudyInstanceUID>")
    archive = Archive(base, headers=headers, cache=cache)
    return archive.materialise(study, archive.views / ("ct" if ct else "rt") / study, ct=ct)


def fetch_cohort(url: str, *, studies=(), since: str | None = None, headers: dict | None = None,
                 cache=None, stream=sys.stderr) -> Path:
    """Materialise an archive's studies with an RTPLAN as a cohort root for :func:`dosecalc.batch`."""
    base, study = split_url(url)
    studies = list(studies or ())
    if study is not None:
        studies.append(study)
    return Archive(base, headers=headers, cache=cache).materialise_cohort(studies, since, stream=stream)


def local_paths(paths) -> tuple:
    """``paths`` with every study URL replaced by its materialised folder (CT included)."""
    return tuple(fetch_study(p) if is_url(p) else p for p in paths)
