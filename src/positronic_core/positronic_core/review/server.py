"""The review server: an HTTP front end over `EpisodeIndex`, the score logs and clip export.

Standard library only (`http.server`, one thread per connection). Pages and their scripts, styles and icons are
files in `static/`, served from here; nothing is loaded from elsewhere, and the Content-Security-Policy says so.

Every path-like parameter is looked up, never joined onto a filesystem path: `ep` must be a ref the index
listed, `cam` one of that episode's videos, `dataset` one of the discovered datasets, a new dataset name must be a
plain directory name, and assets come from a fixed list. Request bodies are JSON objects of at most
`MAX_BODY_BYTES`; writes (scores, clips) require `Content-Type: application/json` and, when the browser sends an
Origin, the server's own, so another site open in the same browser cannot post to it. A server bound to loopback
also refuses Host names that are not loopback ones (DNS rebinding). With a token, every request must carry it
(`access`): `Authorization: Bearer <token>`, or the session cookie set by opening a page with `?token=<token>`.

API (all JSON; errors are `{"error": "..."}` with a 4xx/5xx status):
  GET  /api/status                      indexing progress, datasets, errors
  GET  /api/episodes?sort=&desc=&page=&page_size=&f.<column>=<filter>
  GET  /api/episode?ep=<ref>[&sort=..&f.<column>=..]   row, statics, meta, signals, videos, panels, prev/next
  GET  /api/signals?ep=<ref>&names=a,b  samples (seconds from the episode's first sample)
  GET  /api/video?ep=<ref>&cam=<name>   the mp4, with HTTP Range support
  GET  /api/frame?ep=<ref>&cam=<name>&i=<index>   one frame as JPEG (for browsers without H.264)
  GET  /api/scores?ep=<ref>             latest score and its history
  GET  /api/failure_modes               tags used so far, most frequent first
  GET  /api/datasets                    datasets a clip can be exported to, and the default clips dataset
  POST /api/score   {"ep", "outcome", "items_successful", "items_total", "failure_mode", "notes"}
  POST /api/export  {"ep", "start_s", "end_s", "dataset" | "new_dataset"}
"""

from __future__ import annotations

import io
import json
import logging
import math
import mimetypes
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from PIL import Image as PILImage

from positronic_core.dataset.edits import append_edit
from positronic_core.dataset.errors import DatasetError
from positronic_core.dataset.reader import Episode, read_meta
from positronic_core.review import clip_export, episode_view
from positronic_core.review.access import TOKEN_PARAM, Gate
from positronic_core.review.episode_index import COLUMNS, EpisodeIndex, QueryError
from positronic_core.runs import vocabulary
from positronic_core.runs.discovery import find_dataset_roots
from positronic_core.runs.row import relative_name
from positronic_core.runs.score_log import ScoreError, parse_score
from positronic_core.wire.access_token import is_loopback

MAX_BODY_BYTES = 64 * 1024
DEFAULT_CLIPS = "clips"  # the dataset, in the served directory, that the page exports clips into by default
MAX_QUERY_FIELDS = 64
MAX_SIGNALS_PER_REQUEST = 64
STATIC_DIR = Path(__file__).parent / "static"
MAX_STATIC_TEXT = 2000  # longer static texts are shown by kind and size
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")

_log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _assets() -> dict[str, Path]:
    """The fixed list of files under /static/ (read once: nothing added later is served)."""
    return {p.name: p for p in STATIC_DIR.iterdir() if p.is_file() and not p.name.startswith(".")}


def json_safe(value: Any) -> Any:
    """Statics and meta as JSON the browser can parse: bytes and long texts (0.4.x records its robot's URDF, scene
    XML and meshes as statics) summarised by kind and size, non-finite floats as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > MAX_STATIC_TEXT:
        kind = "XML text" if value.lstrip().startswith("<") else "text"
        return f"<{kind}, {len(value)} characters>"
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class ReviewApp:
    """Everything a request needs: the index, the assets, the access gate and the lock that serialises clip
    exports."""

    def __init__(self, index: EpisodeIndex, default_page_size: int = 50, clips_dataset: str = DEFAULT_CLIPS,
                 token: str | None = None) -> None:
        self.index = index
        self.gate = Gate(token)
        self.clips_dataset = clip_export.check_new_dataset_name(clips_dataset)
        self.loopback_only = False
        self.assets = _assets()
        self.default_page_size = default_page_size
        self.export_lock = threading.Lock()

    # --- helpers --------------------------------------------------------------------------------------------

    def _episode(self, ref: Any) -> tuple[dict[str, Any], Any]:
        if not isinstance(ref, str) or not ref:
            raise ApiError(400, "missing parameter 'ep' (an episode path as listed by /api/episodes)")
        located = self.index.ref(ref)
        row = self.index.row(ref)
        if located is None or row is None:
            if self.index.status()["loading"]:
                raise ApiError(404, f"no episode {ref!r} indexed yet (indexing is still running)")
            raise ApiError(404, f"no episode {ref!r} in this dataset")
        return row, located

    @staticmethod
    def _table_params(params: dict[str, str]) -> dict[str, Any]:
        filters = {k[2:]: v for k, v in params.items() if k.startswith("f.")}
        desc = params.get("desc", "0")
        if desc not in ("0", "1", "true", "false", ""):
            raise ApiError(400, f"desc must be 0 or 1, got {desc!r}")
        return {"sort": params.get("sort", "index") or "index", "descending": desc in ("1", "true"),
                "filters": filters}

    # --- GET ------------------------------------------------------------------------------------------------

    def status(self, params: dict[str, str]) -> dict[str, Any]:
        return self.index.status()

    def episodes(self, params: dict[str, str]) -> dict[str, Any]:
        table = self._table_params(params)
        try:
            page = int(params.get("page", "0") or 0)
            page_size = int(params.get("page_size", str(self.default_page_size)) or self.default_page_size)
        except ValueError:
            raise ApiError(400, "page and page_size must be whole numbers") from None
        self.index.refresh_scores(min_interval_s=0.5)
        try:
            result = self.index.query(page=page, page_size=page_size, **table)
            if self.index.reread_edited([row["ref"] for row in result["rows"]]):
                result = self.index.query(page=page, page_size=page_size, **table)
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
        status = self.index.status()
        result["columns"] = [{"key": c.key, "label": c.label, "kind": c.kind} for c in COLUMNS]
        result["status"] = {k: status[k] for k in ("loading", "indexed", "found", "clips", "dropped",
                                                 "error_count", "elapsed_s")}
        result["status"]["datasets"] = len(status["datasets"])
        return result

    def episode(self, params: dict[str, str]) -> dict[str, Any]:
        row, located = self._episode(params.get("ep"))
        row = self.index.reread(row["ref"]) or row  # its own edit log may have changed since it was indexed
        try:
            neighbours = self.index.neighbours(row["ref"], **self._table_params(params))
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
        episode = Episode(located.path, row["episode_id"])
        try:
            described = episode_view.describe(episode)
            videos = [episode_view.video_timing(episode, name, described["t0_ns"]) for name in described["videos"]]
            meta = episode.meta
            static = self.index.episode_edits(located, meta).apply(episode.recorded_static)
        finally:
            episode.close()
        return {"row": row, "static": json_safe(static), "meta": json_safe(meta), **described, "videos": videos,
                "neighbours": neighbours, "score": _score_json(located.scores.latest(row["key"]))}

    def signals(self, params: dict[str, str]) -> dict[str, Any]:
        row, located = self._episode(params.get("ep"))
        names = [n for n in params.get("names", "").split(",") if n]
        if not names:
            raise ApiError(400, "missing parameter 'names' (comma-separated signal names)")
        if len(names) > MAX_SIGNALS_PER_REQUEST:
            raise ApiError(400, f"at most {MAX_SIGNALS_PER_REQUEST} signals per request")
        episode = Episode(located.path, row["episode_id"])
        try:
            unknown = [n for n in names if n not in episode]
            if unknown:
                raise ApiError(404, f"episode {row['ref']!r} has no signal(s) {', '.join(map(repr, unknown))}")
            t0, _ = episode_view.episode_duration_bounds(episode)
            try:
                return {"signals": episode_view.signal_samples(episode, names, t0)}
            except KeyError as exc:
                raise ApiError(400, str(exc.args[0])) from None
        finally:
            episode.close()

    def video_file(self, params: dict[str, str]) -> Path:
        row, located = self._episode(params.get("ep"))
        cam = params.get("cam")
        if not cam:
            raise ApiError(400, "missing parameter 'cam' (a video signal name)")
        episode = Episode(located.path, row["episode_id"])
        if cam not in episode.video_names:
            raise ApiError(404, f"episode {row['ref']!r} has no video {cam!r}; videos: "
                                f"{', '.join(episode.video_names) or 'none'}")
        return episode.signal(cam).path

    def frame_jpeg(self, params: dict[str, str]) -> bytes:
        """One decoded frame as JPEG, for browsers that cannot play H.264."""
        row, located = self._episode(params.get("ep"))
        cam = params.get("cam")
        episode = Episode(located.path, row["episode_id"])
        if not cam or cam not in episode.video_names:
            raise ApiError(404, f"episode {row['ref']!r} has no video {cam!r}")
        try:
            index = int(params.get("i", ""))
        except ValueError:
            raise ApiError(400, "parameter 'i' must be a frame index") from None
        signal = episode.signal(cam)
        if not 0 <= index < len(signal):
            raise ApiError(404, f"frame {index} is outside {cam!r} ({len(signal)} frames)")
        try:
            image = signal.frame(index)
        finally:
            episode.close()
        buffer = io.BytesIO()
        PILImage.fromarray(image).save(buffer, format="JPEG", quality=85)
        return buffer.getvalue()

    def scores(self, params: dict[str, str]) -> dict[str, Any]:
        row, located = self._episode(params.get("ep"))
        return {"key": row["key"], "latest": _score_json(located.scores.latest(row["key"])),
                "history": [s.to_json() for s in located.scores.history(row["key"])]}

    def failure_modes(self, params: dict[str, str]) -> dict[str, Any]:
        return {"failure_modes": self.index.failure_modes()}

    def datasets(self, params: dict[str, str]) -> dict[str, Any]:
        return {"datasets": sorted(self.index.dataset_roots()), "clips": self.clips_dataset}

    # --- POST -----------------------------------------------------------------------------------------------

    def post_score(self, body: dict[str, Any]) -> dict[str, Any]:
        fields = dict(body)
        row, located = self._episode(fields.pop("ep", None))
        try:
            score = parse_score(fields)
        except ScoreError as exc:
            raise ApiError(400, str(exc)) from None
        stored = located.scores.append(row["key"], score, {"path": relative_name(located.path,
                                                                                 located.dataset_root)})
        shared = self._share_score(row, located, stored)
        self.index.refresh_scores()
        return {"ok": True, "key": row["key"], "score": stored.to_json(), "shared": shared,
                "row": self.index.reread(row["ref"])}

    def _share_score(self, row: dict[str, Any], located: Any, stored: Any) -> bool:
        """Append the score as upstream 0.4.x's verdict to the episode's own edit log (`runs.vocabulary`), where
        0.4.x's own tools append theirs, so whichever came last wins on both sides. False when the episode has no
        identity an edit log could name (no meta uid and no creation time)."""
        if not row["uid"]:
            return False
        episode = Episode(located.path, row["episode_id"])
        recorded = episode.recorded_static
        current = self.index.episode_edits(located, episode.meta).apply(recorded)
        if stored.outcome is None:
            data = vocabulary.cleared_data(recorded, current, stored.ts_ns)
        else:
            data = vocabulary.verdict_data(stored.outcome, stored.items_successful, stored.items_total,
                                           stored.failure_mode, stored.notes, stored.ts_ns)
        try:
            append_edit(located.path, "set_static", row["uid"], data)
        except OSError as exc:
            _log.warning("score for %s kept in the score log only: cannot append to its edit log: %s",
                         row["ref"], exc)
            return False
        return True

    def post_export(self, body: dict[str, Any]) -> dict[str, Any]:
        known = {"ep", "start_s", "end_s", "dataset", "new_dataset"}
        unknown = sorted(set(body) - known)
        if unknown:
            raise ApiError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
        row, located = self._episode(body.get("ep"))
        target = self._export_target(body.get("dataset"), body.get("new_dataset"))
        # A clip carries the statics as the edit logs leave them (a corrected task, say).
        edits = self.index.episode_edits(located, read_meta(located.path))
        episode = Episode(located.path, row["episode_id"], edits)
        try:
            t0, t_end = episode_view.episode_duration_bounds(episode)
            start_s, end_s = clip_export.check_range((t_end - t0) / 1e9, body.get("start_s"), body.get("end_s"))
        except clip_export.ClipError as exc:
            episode.close()
            raise ApiError(400, str(exc)) from None
        info = {"dataset": row["dataset"], "key": row["key"], "ref": row["ref"], "start_s": start_s, "end_s": end_s}
        with self.export_lock:
            try:
                result = clip_export.export_clip(episode, t0 + round(start_s * 1e9), t0 + round(end_s * 1e9),
                                                 target, info)
            except (clip_export.ClipError, DatasetError) as exc:
                raise ApiError(400, str(exc)) from None
        new_row = self.index.add_episode(result.dataset_root, result.path, result.episode_id)
        return {"ok": True, "ref": new_row["ref"], "row": new_row, "frames": result.frames}

    def _export_target(self, dataset: Any, new_dataset: Any) -> Path:
        if (dataset is None) == (new_dataset is None):
            raise ApiError(400, "give exactly one of 'dataset' (an existing dataset as listed by /api/datasets) "
                                "or 'new_dataset' (a directory name to create under the served directory)")
        roots = self.index.dataset_roots()
        if dataset is not None:
            if not isinstance(dataset, str) or dataset not in roots:
                raise ApiError(404, f"no dataset {dataset!r}; datasets: {', '.join(sorted(roots))}")
            return roots[dataset]
        try:
            name = clip_export.check_new_dataset_name(new_dataset)
        except clip_export.ClipError as exc:
            raise ApiError(400, str(exc)) from None
        if name in roots:
            return roots[name]
        path = self.index.root / name
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise ApiError(409, f"{name!r} exists in the served directory and is not a dataset")
        if path.is_dir() and any(path.iterdir()) and not find_dataset_roots(path, max_depth=0):
            raise ApiError(409, f"{name!r} exists in the served directory, is not empty and is not a dataset")
        return path


def _score_json(score) -> dict[str, Any] | None:
    return None if score is None else score.to_json()


GET_ROUTES = {
    "/api/status": ReviewApp.status,
    "/api/episodes": ReviewApp.episodes,
    "/api/episode": ReviewApp.episode,
    "/api/signals": ReviewApp.signals,
    "/api/scores": ReviewApp.scores,
    "/api/failure_modes": ReviewApp.failure_modes,
    "/api/datasets": ReviewApp.datasets,
}
POST_ROUTES = {"/api/score": ReviewApp.post_score, "/api/export": ReviewApp.post_export}


class ReviewHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "positronic-review"
    # Headers and body go out as separate writes; with Nagle's algorithm the second waits for the client's
    # delayed ACK (~40 ms per request on Linux).
    disable_nagle_algorithm = True
    app: ReviewApp  # set on the subclass made by make_server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        _log.debug("%s - %s", self.address_string(), format % args)

    # --- plumbing -------------------------------------------------------------------------------------------

    def _params(self, query: str) -> dict[str, str]:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError as exc:
            raise ApiError(400, f"bad query string: {exc}") from None
        return dict(pairs)

    def _send_json(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="positronic-review"')
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self._common_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _common_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Referrer-Policy", "no-referrer")

    def _error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message})

    def _path(self) -> tuple[str, str]:
        split = urlsplit(self.path)
        return unquote(split.path), split.query

    # --- methods --------------------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch_get()

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch_get()

    def _check_host(self) -> None:
        """On a loopback server, refuse Host names other than loopback ones: a web page whose domain is re-pointed
        at 127.0.0.1 (DNS rebinding) would otherwise read and write here as if it were this page."""
        if not self.app.loopback_only:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name not in ("localhost", "[::1]") and not name.startswith("127."):
            raise ApiError(403, f"Host {host!r} is not this loopback server; open it as http://127.0.0.1:<port>/")

    def _admit(self, path: str, query: str) -> bool:
        """Check the token (when the server has one). False when the answer is already sent: a page opened with
        the right `?token=` is redirected to itself without it, with the session cookie set."""
        gate = self.app.gate
        if not gate.required:
            return True
        params = self._params(query)
        presented = params.get(TOKEN_PARAM)
        if presented is not None:
            if not gate.token_matches(presented):
                raise ApiError(401, "wrong token in ?token=")
            if self.command == "GET" and (path in ("/", "/index.html") or path.startswith("/episode/")):
                self._redirect_with_session(path, params)
                return False
            return True
        if not gate.admits(self.headers.get("Authorization"), self.headers.get("Cookie")):
            raise ApiError(401, "this server needs its token: open the page once as /?token=<token>, or send "
                                "Authorization: Bearer <token>")
        return True

    def _redirect_with_session(self, path: str, params: dict[str, str]) -> None:
        rest = urlencode([(k, v) for k, v in params.items() if k != TOKEN_PARAM])
        self.send_response(303)
        self.send_header("Location", quote(path, safe="/") + (f"?{rest}" if rest else ""))
        self.send_header("Set-Cookie", self.app.gate.session_cookie())
        self.send_header("Content-Length", "0")
        self.send_header("Cache-Control", "no-store")
        self._common_headers()
        self.end_headers()

    def _dispatch_get(self) -> None:
        try:
            self._check_host()
            path, query = self._path()
            if not self._admit(path, query):
                return
            if path in GET_ROUTES:
                self._send_json(200, GET_ROUTES[path](self.app, self._params(query)))
            elif path == "/api/frame":
                self._send_bytes(self.app.frame_jpeg(self._params(query)), "image/jpeg")
            elif path == "/api/video":
                self._send_file(self.app.video_file(self._params(query)), "video/mp4")
            elif path in ("/", "/index.html"):
                self._send_file(self.app.assets["index.html"], "text/html; charset=utf-8")
            elif path.startswith("/episode/"):
                ref = path[len("/episode/"):]
                if self.app.index.ref(ref) is None and not self.app.index.status()["loading"]:
                    raise ApiError(404, f"no episode {ref!r} in this dataset")
                self._send_file(self.app.assets["episode.html"], "text/html; charset=utf-8")
            elif path.startswith("/static/"):
                asset = self.app.assets.get(path[len("/static/"):])
                if asset is None:
                    raise ApiError(404, f"no asset {path!r}")
                kind = mimetypes.guess_type(asset.name)[0] or "application/octet-stream"
                if kind.startswith("text/") or kind == "application/javascript":
                    kind += "; charset=utf-8"
                self._send_file(asset, kind)
            elif path == "/favicon.ico":
                self._send_file(self.app.assets["favicon.svg"], "image/svg+xml")
            else:
                raise ApiError(404, f"no page {path!r}")
        except ApiError as exc:
            self._error(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except DatasetError as exc:
            self._error(500, f"cannot read the recording: {exc}")
        except Exception as exc:
            _log.exception("GET %s failed", self.path)
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")

    def do_POST(self) -> None:  # noqa: N802
        try:
            path, query = self._path()
            self._check_host()
            self._admit(path, query)
            handler = POST_ROUTES.get(path)
            if handler is None:
                raise ApiError(404, f"no endpoint POST {path!r}")
            body = self._read_json_body()
            self._send_json(200, handler(self.app, body))
        except ApiError as exc:
            self.close_connection = True  # the body may be unread; do not parse it as the next request
            self._error(exc.status, exc.message)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except DatasetError as exc:
            self._error(500, f"cannot read or write the recording: {exc}")
        except OSError as exc:
            _log.exception("POST %s failed", self.path)
            self._error(500, f"storage error: {exc}")
        except Exception as exc:
            _log.exception("POST %s failed", self.path)
            self._error(500, f"internal error: {type(exc).__name__}: {exc}")

    def do_PUT(self) -> None:  # noqa: N802
        self._method_not_allowed()

    def do_DELETE(self) -> None:  # noqa: N802
        self._method_not_allowed()

    def do_PATCH(self) -> None:  # noqa: N802
        self._method_not_allowed()

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        self._error(405, f"method {self.command} is not supported; scores and clips are POSTed")

    def _read_json_body(self) -> dict[str, Any]:
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin is not None and origin not in (f"http://{host}", f"https://{host}"):
            raise ApiError(403, f"cross-origin request from {origin!r} refused")
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise ApiError(415, f"send the body as Content-Type: application/json (got {kind or 'none'!r})")
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "chunked bodies are not accepted; send Content-Length")
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise ApiError(411, "missing Content-Length")
        try:
            length = int(length_header)
        except ValueError:
            raise ApiError(400, f"bad Content-Length {length_header!r}") from None
        if length < 0:
            raise ApiError(400, f"bad Content-Length {length_header!r}")
        if length > MAX_BODY_BYTES:
            raise ApiError(413, f"body of {length} bytes is over the {MAX_BODY_BYTES}-byte limit")
        raw = self.rfile.read(length)
        if len(raw) != length:
            raise ApiError(400, f"body ended after {len(raw)} of {length} bytes")
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(400, f"body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, f"body must be a JSON object, got {type(body).__name__}")
        return body

    def _send_bytes(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self._common_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_file(self, path: Path, content_type: str) -> None:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise ApiError(404, f"cannot open {path.name}: {exc.strerror}") from None
        with handle:
            size = path.stat().st_size
            start, end, status = 0, size - 1, 200
            requested = self.headers.get("Range")
            if requested is not None and path.suffix == ".mp4":
                match = _RANGE.match(requested.strip())
                if match and (match.group(1) or match.group(2)):
                    first, last = match.group(1), match.group(2)
                    if first:
                        start, end = int(first), min(int(last), size - 1) if last else size - 1
                    else:
                        start, end = max(0, size - int(last)), size - 1
                    if start >= size or start > end:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self._common_headers()
                        self.end_headers()
                        return
                    status = 206
                # Anything else (several ranges, other units) is answered with the whole file, as RFC 9110 allows.
            length = max(0, end - start + 1)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            self.send_header("Cache-Control", "no-cache")
            if path.suffix == ".mp4":
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self._common_headers()
            self.end_headers()
            if self.command == "HEAD":
                return
            handle.seek(start)
            remaining = length
            while remaining > 0:
                chunk = handle.read(min(_CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON bodies")


class ReviewServer:
    """The HTTP server bound to (host, port); port 0 picks a free one (see `.port`). With `token`, every request
    must present it (`access`); whether an address may go without one is the caller's check (`access.check_bind`).
    """

    def __init__(self, index: EpisodeIndex, host: str = "127.0.0.1", port: int = 5001, default_page_size: int = 50,
                 clips_dataset: str = DEFAULT_CLIPS, token: str | None = None) -> None:
        self.app = ReviewApp(index, default_page_size, clips_dataset, token)
        handler = type("BoundReviewHandler", (ReviewHandler,), {"app": self.app})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.app.loopback_only = is_loopback(host)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ReviewServer:
        """Serve from a background thread (tests, benchmarks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="review-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
