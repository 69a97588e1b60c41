"""Nearest-facility benchmark: our grid search against PostGIS KNN, checked against brute force.

    .venv/bin/pip install -e '.[bench]'      # numpy, for the brute-force reference
    .venv/bin/python bench/facilities.py [--rows 3120000] [--queries 1000] [--databases sqlite,postgresql]
                                          [--keep DIR]

With --keep, the CSV, the SQLite database and the PostgreSQL database (with the PostGIS reference table) outlive
the run; a later run with the same DIR and --rows measures them again without generating and importing (the load
time is then the first run's).

Generates facilities over Qingdao's bounding box (114 kinds, ~2,000 public toilets), imports them
through `facilities.imports` (the code behind `flask facilities import`), then runs random
nearest-5 queries within 2 km, one kind (0301) and any kind, through the service layer and
through HTTP (a real socket), on SQLite and on PostgreSQL. PostGIS KNN (`ORDER BY geom <-> point
LIMIT 5` on a GiST index, through psycopg) is measured in the same run when PostGIS is installed, two ways: as
the issue writes it, on a geometry column ("planar": ranked by distance in degrees), and on a geography column
within the radius ("sphere": ranked by great-circle distance, the question our search answers); on PostgreSQL
taking turns with the service-layer paths query by query (the SQLite ratios are to those medians).
Every answer, ours and PostGIS's, is compared with an exact brute-force scan. Prints median and p99 µs per query,
the ratios to PostGIS, load time and memory.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import functools
import http.client
import logging
import os
import pickle
import random
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.app import create_app  # noqa: E402
from core.config import Config  # noqa: E402
from core.db import db  # noqa: E402
from core.geo import EARTH_RADIUS_M, haversine_m  # noqa: E402
from core import districts  # noqa: E402
from facilities import imports, services  # noqa: E402
from facilities.models import FacilityImport, FacilityKind  # noqa: E402

CITY_BOX = (35.58, 37.15, 119.50, 121.00)  # Qingdao, WGS-84: lat min/max, lng min/max
CENTRES = ((36.07, 120.38, 0.05), (36.30, 120.40, 0.04), (35.96, 120.18, 0.05), (36.78, 119.95, 0.04),
           (36.38, 120.70, 0.03))  # urban districts: lat, lng, spread in degrees
TOILETS = 2_000
RADIUS_M = 2_000.0
LIMIT = 5
SEED = 20240601


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- data ---------------------------------------------------------------------------------------

def generate(path: Path, rows: int, kinds: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Write the CSV (unless it is there already); return lat, lng and kind index arrays in row order (row n gets
    id n + 1)."""
    rng = np.random.default_rng(SEED)
    urban = rng.random(rows) < 0.6
    centre = rng.integers(0, len(CENTRES), rows)
    spread = np.array([c[2] for c in CENTRES])[centre]
    lat = np.where(urban, np.array([c[0] for c in CENTRES])[centre] + rng.normal(0, 1, rows) * spread,
                   rng.uniform(CITY_BOX[0], CITY_BOX[1], rows))
    lng = np.where(urban, np.array([c[1] for c in CENTRES])[centre] + rng.normal(0, 1, rows) * spread,
                   rng.uniform(CITY_BOX[2], CITY_BOX[3], rows))
    lat = np.clip(lat, CITY_BOX[0], CITY_BOX[1])
    lng = np.clip(lng, CITY_BOX[2], CITY_BOX[3])
    # Imports refuse rows outside Qingdao's districts (the sea, the neighbouring cities): those are drawn again.
    locator = districts.locator()
    outside = np.array([locator.district_at(a, b) is None for a, b in zip(lat.tolist(), lng.tolist(), strict=True)])
    while outside.any():
        lat[outside] = rng.uniform(CITY_BOX[0], CITY_BOX[1], outside.sum())
        lng[outside] = rng.uniform(CITY_BOX[2], CITY_BOX[3], outside.sum())
        outside[outside] = [locator.district_at(a, b) is None
                            for a, b in zip(lat[outside].tolist(), lng[outside].tolist(), strict=True)]
    others = [k for k in kinds if k != "0301"]
    weights = 1.0 / np.arange(1, len(others) + 1) ** 0.8  # a few very common kinds, a long tail
    kind = rng.choice(np.array([kinds.index(k) for k in others]), rows, p=weights / weights.sum())
    toilet_rows = rng.choice(rows, min(TOILETS, rows), replace=False)
    kind[toilet_rows] = kinds.index("0301")
    if path.exists():
        return lat, lng, kind
    hours = ("", "06:00-22:00", "00:00-24:00", "22:00-06:00")
    partial = path.with_suffix(".part")
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["source_id", "kind", "name", "lat", "lng", "district", "opening_hours"])
        for n in range(rows):
            code = kinds[kind[n]]
            writer.writerow([f"b{n}", code, f"设施{n}", repr(float(lat[n])), repr(float(lng[n])), "",
                             hours[n % 4] if code == "0301" else ""])
    partial.rename(path)  # a run stopped while writing leaves no CSV for a later run to take as whole
    return lat, lng, kind


class BruteForce:
    """Exact reference: every point measured (numpy), the few near the limit re-measured with haversine_m."""

    def __init__(self, lat: np.ndarray, lng: np.ndarray, kind: np.ndarray) -> None:
        self.lat, self.lng, self.kind = lat, lng, kind
        self.rad_lat, self.rad_lng = np.radians(lat), np.radians(lng)
        self.cos_lat = np.cos(self.rad_lat)

    def nearest(self, lat: float, lng: float, kind_index: int | None) -> list[tuple[int, float]]:
        rows = np.arange(len(self.lat)) if kind_index is None else np.flatnonzero(self.kind == kind_index)
        phi = np.radians(lat)
        h = (np.sin((self.rad_lat[rows] - phi) / 2) ** 2
             + np.cos(phi) * self.cos_lat[rows] * np.sin((self.rad_lng[rows] - np.radians(lng)) / 2) ** 2)
        d = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
        close = rows[d <= RADIUS_M + 1.0]
        exact = sorted((haversine_m(lat, lng, float(self.lat[r]), float(self.lng[r])), int(r) + 1) for r in close)
        return [(point_id, distance) for distance, point_id in exact if distance <= RADIUS_M][:LIMIT]

    def within_radius(self, lat: float, lng: float, ids: list[int]) -> list[int]:
        """Those of the ids (in their order) within RADIUS_M of the point, by great-circle distance."""
        return [point_id for point_id in ids
                if haversine_m(lat, lng, float(self.lat[point_id - 1]), float(self.lng[point_id - 1])) <= RADIUS_M]


# --- measuring ------------------------------------------------------------------------------------

@dataclasses.dataclass
class Timing:
    label: str
    micros: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.micros)

    @property
    def p99(self) -> float:
        return sorted(self.micros)[max(0, int(len(self.micros) * 0.99) - 1)]


def timed(label: str, queries: list, run) -> Timing:  # noqa: ANN001
    return interleaved({label: run}, queries)[label]


def interleaved(runs: dict, queries: list) -> dict[str, Timing]:
    """Each path timed on every query, the paths taking turns query by query (in a rotating order), after one untimed
    pass of every path over all the queries (the pages they read in the buffer cache, the statements prepared).

    Taking turns puts the paths under the same load, which on a shared machine drifts within a run; timed one after
    the other, with PostGIS warmed by 30 queries only, its median swung between 148 and 993 µs from run to run.
    """
    for run in runs.values():
        for query in queries:
            run(query)
    labels = list(runs)
    micros: dict[str, list[float]] = {label: [] for label in labels}
    for n, query in enumerate(queries):
        for label in labels[n % len(labels):] + labels[:n % len(labels)]:
            started = time.perf_counter()
            runs[label](query)
            micros[label].append((time.perf_counter() - started) * 1e6)
    return {label: Timing(label, micros[label]) for label in labels}


def query_points(count: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    points = []
    for n in range(count):
        if n % 2:
            c = CENTRES[n % len(CENTRES)]
            points.append((rng.gauss(c[0], c[2]), rng.gauss(c[1], c[2])))
        else:
            points.append((rng.uniform(CITY_BOX[0], CITY_BOX[1]), rng.uniform(CITY_BOX[2], CITY_BOX[3])))
    return points


def serve(app) -> tuple[str, int, object]:  # noqa: ANN001
    from werkzeug.serving import make_server

    # The development server's own line per request is no part of the app (gunicorn serves it in production),
    # and writing it cost about a millisecond of each timed request.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return "127.0.0.1", server.server_port, server


def run_database(name: str, url: str, csv_path: Path, rows: int, points: list[tuple[float, float]], expected: dict,
                 brute: BruteForce, *, keep: bool) -> dict:
    config = Config.from_env({}).replace(database_url=url, log_level="WARNING")
    app = create_app(config)
    results: dict = {"database": name}
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.session.execute(sa.update(FacilityKind).values(shown_to_residents=True))  # "any kind" = all 114
        db.session.commit()
        previous = db.session.scalar(sa.select(FacilityImport).where(FacilityImport.status == "finished")
                                     .order_by(FacilityImport.id.desc()).limit(1))
        if previous is not None and previous.rows_accepted == rows:
            log(f"[{name}] reusing the {rows:,} rows loaded by an earlier run")
            record = previous
            results["load_s"] = (previous.finished_at - previous.started_at).total_seconds()
            services.refresh_kind_stats()  # what a newer schema derives from the rows
            db.session.commit()
        else:
            log(f"[{name}] importing {csv_path.stat().st_size / 1e6:,.0f} MB ...")
            started = time.perf_counter()
            record = imports.import_file(csv_path, "csv", batch_size=10_000)
            results["load_s"] = time.perf_counter() - started
        results["rows"] = record.rows_accepted
        if name == "postgresql":  # the import left the table vacuumed and analysed, as `flask facilities import` does
            results["db_mb"] = db.session.scalar(sa.text("SELECT pg_total_relation_size('facilities')")) / 1e6
        else:
            results["db_mb"] = Path(url.removeprefix("sqlite:///")).stat().st_size / 1e6
        ids = db.session.execute(sa.text("SELECT min(id), max(id), count(*) FROM facilities")).one()
        assert tuple(ids) == (1, record.rows_accepted, record.rows_accepted), "ids are not row order"
        log(f"[{name}] loaded {record.rows_accepted:,} rows in {results['load_s']:.0f} s; querying ...")

        reference = postgis_reference(url, keep=keep) if name == "postgresql" else contextlib.nullcontext()
        with reference as postgis:
            mismatches = 0
            for mode, kind in (("one kind", "0301"), ("any kind", None)):
                def service(point, kind=kind):  # noqa: ANN001, ANN202
                    return services.nearest(point[0], point[1], kind=kind, limit=LIMIT, radius_m=RADIUS_M)

                for point in points:
                    got = [(r.facility.id, r.distance_m) for r in service(point)]
                    mismatches += got != expected[(mode, point)]
                runs = {f"service {mode}": service,
                        f"hits {mode}": lambda p, kind=kind: services.nearest_hits(p[0], p[1], kind=kind, limit=LIMIT,
                                                                                   radius_m=RADIUS_M)}
                for reference_name, query in (postgis or {}).items():
                    label = f"postgis {reference_name} {mode}"
                    runs[label] = lambda p, kind=kind, query=query: query(p, kind)
                    # The planar reference has no radius: its answers are cut to it before they are compared.
                    results[f"{label} mismatches"] = sum(
                        brute.within_radius(*point, query(point, kind)) != [point_id for point_id, _ in
                                                                            expected[(mode, point)]]
                        for point in points)
                results.update(interleaved(runs, points))
        results["mismatches"] = mismatches
        db.session.remove()

    host, port, server = serve(app)
    connection = http.client.HTTPConnection(host, port)
    for mode, kind in (("one kind", "0301"), ("any kind", None)):
        def http_query(point, kind=kind):  # noqa: ANN001, ANN202
            params = {"lat": point[0], "lng": point[1], "coord_type": "wgs84", "limit": LIMIT, "radius_m": RADIUS_M}
            if kind:
                params["kind"] = kind
            connection.request("GET", "/api/v1/facilities/nearest?" + urlencode(params))
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()

        results[f"http {mode}"] = timed(f"http {mode}", points, http_query)
    connection.close()
    server.shutdown()  # type: ignore[attr-defined]
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose()
    return results


# The PostGIS references, by what they rank by. "planar" is the query as the issue writes it, on a geometry column:
# it ranks by distance in degrees, which at Qingdao's latitude stretches north-south distances by 1/cos(36°) against
# east-west ones, so its answers are not the great-circle nearest (the run counts how many differ). "sphere" answers
# the question our search answers: a geography column, whose KNN ranks by distance on the sphere, within the radius.
POSTGIS_REFERENCES = ("planar", "sphere")


@contextlib.contextmanager
def postgis_reference(url: str, *, keep: bool):  # noqa: ANN201
    """Query functions (point, kind) -> ids by reference name, on the PostGIS KNN reference table (built unless kept),
    or None without PostGIS."""
    import psycopg

    db.session.commit()  # no snapshot of ours held open while the reference table is built and vacuumed
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as connection:
        try:
            connection.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            connection.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        except psycopg.Error as exc:
            log(f"PostGIS is not available ({exc.__class__.__name__}): no KNN reference")
            yield None
            return
        if keep and connection.execute("SELECT to_regclass('knn_reference_v2')").fetchone()[0] is not None:
            log("[postgresql] reusing the PostGIS reference table")
        else:
            log("[postgresql] building the PostGIS reference table ...")
            connection.execute("DROP TABLE IF EXISTS knn_reference_v2")
            connection.execute("CREATE TABLE knn_reference_v2 AS SELECT id, kind_code, "
                               "ST_SetSRID(ST_MakePoint(lng, lat), 4326) AS geom, "
                               "ST_SetSRID(ST_MakePoint(lng, lat), 4326)::geography AS geog FROM facilities "
                               "WHERE status = 'in_service' AND shown")
            for columns in ("kind_code, geom", "geom", "kind_code, geog", "geog"):
                connection.execute(f"CREATE INDEX ON knn_reference_v2 USING gist ({columns})")
            connection.execute("VACUUM ANALYZE knn_reference_v2")
        point = "ST_SetSRID(ST_MakePoint(%(lng)s, %(lat)s), 4326)"
        statements = {}
        for kind in ("0301", None):
            of_kind = [f"kind_code = '{kind}'"] if kind else []
            within = f"ST_DWithin(geog, {point}::geography, {RADIUS_M!r}, false)"
            statements["planar", kind] = (f"SELECT id FROM knn_reference_v2 {'WHERE ' + of_kind[0] if kind else ''}"
                                          f" ORDER BY geom <-> {point} LIMIT {LIMIT}")
            statements["sphere", kind] = (f"SELECT id FROM knn_reference_v2 WHERE {' AND '.join([*of_kind, within])}"
                                          f" ORDER BY geog <-> {point}::geography LIMIT {LIMIT}")

        def query(name: str, point: tuple[float, float], kind: str | None) -> list[int]:
            rows = connection.execute(statements[name, kind], {"lat": point[0], "lng": point[1]}, prepare=True)
            return [point_id for point_id, in rows]

        yield {name: functools.partial(query, name) for name in POSTGIS_REFERENCES}
        if not keep:
            connection.execute("DROP TABLE knn_reference_v2")


def postgres_database(base_url: str, name: str, *, fresh: bool) -> str:
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first()
        if fresh and exists:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return str(sa.make_url(base_url).set(database=name).render_as_string(hide_password=False))


def drop_postgres_database(base_url: str, name: str) -> None:
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def report(all_results: list[dict]) -> None:
    postgis = next((r for r in all_results if "postgis sphere one kind" in r), {})
    references = [name for name in POSTGIS_REFERENCES if f"postgis {name} one kind" in postgis]
    header = "".join(f"{'PostGIS ' + name + ' / ours':>24}" for name in references)
    print(f"\n{'database':<11} {'path':<26} {'median µs':>10} {'p99 µs':>10}{header}")
    paths = ["service one kind", "service any kind", "hits one kind", "hits any kind", "http one kind", "http any kind"]
    for results in all_results:
        for key in paths + [f"postgis {name} {mode}" for name in references for mode in ("one kind", "any kind")]:
            if key not in results:
                continue
            timing = results[key]
            mode = key[-8:]
            ratios = "" if key.startswith("postgis") else "".join(
                f"{postgis[f'postgis {name} {mode}'].median / timing.median:>23.2f}x" for name in references)
            print(f"{results['database']:<11} {key:<26} {timing.median:>10,.0f} {timing.p99:>10,.0f}{ratios}")
    for name in references:
        mismatches = (f"{mode} {postgis[f'postgis {name} {mode} mismatches']}" for mode in ("one kind", "any kind"))
        print(f"PostGIS {name}: answers differing from brute force (cut to the radius): " + ", ".join(mismatches))
    print()
    for results in all_results:
        print(f"{results['database']}: loaded {results['rows']:,} rows in {results['load_s']:.0f} s "
              f"({results['rows'] / results['load_s']:,.0f} rows/s), table + indexes {results['db_mb']:,.0f} MB, "
              f"answers differing from brute force: {results['mismatches']}")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=3_120_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--postgres-database", default="bench_facilities",
                        help="the database the benchmark creates (and drops, unless --keep)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the data and both databases for later runs with the same DIR and --rows")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    with (contextlib.nullcontext(str(args.keep / f"rows-{args.rows}")) if args.keep
          else tempfile.TemporaryDirectory(prefix="bench-facilities-")) as tmp:
        tmp_dir = Path(tmp)
        tmp_dir.mkdir(exist_ok=True)
        csv_path = tmp_dir / "facilities-on-land.csv"  # since imports refuse points outside the city
        kinds = [row["code"] for row in csv.DictReader((Path(imports.__file__).parent / "data" / "kinds.csv").open())]
        log(f"generating {args.rows:,} facilities over {len(kinds)} kinds ...")
        brute = BruteForce(*generate(csv_path, args.rows, kinds))
        points = query_points(args.queries, SEED)
        answers = tmp_dir / f"brute-force-{args.queries}.pickle"
        if answers.exists():
            expected = pickle.loads(answers.read_bytes())
        else:
            log("brute force ...")
            expected = {}
            for mode, kind in (("one kind", "0301"), ("any kind", None)):
                for point in points:
                    expected[(mode, point)] = brute.nearest(point[0], point[1],
                                                            None if kind is None else kinds.index(kind))
            answers.write_bytes(pickle.dumps(expected))
        all_results = []
        for name in args.databases.split(","):
            if name == "sqlite":
                all_results.append(run_database(name, f"sqlite:///{tmp_dir / 'bench.db'}", csv_path, args.rows,
                                                points, expected, brute, keep=bool(args.keep)))
            else:
                database = args.postgres_database + (f"_{args.rows}" if args.keep else "")
                url = postgres_database(args.postgres_url, database, fresh=not args.keep)
                try:
                    all_results.append(run_database(name, url, csv_path, args.rows, points, expected, brute,
                                                    keep=bool(args.keep)))
                finally:
                    if not args.keep:
                        drop_postgres_database(args.postgres_url, database)
        report(all_results)


if __name__ == "__main__":
    main()
