"""The RADIUS door against FreeRADIUS 3.2 + rlm_sql on the same PostgreSQL: ``radius.servers``.

Both servers run side by side in the same run and get the same packets from the same
load generator (``bench.radload``: asyncio UDP, packets built before the clock starts,
Message-Authenticator on every Access-Request, many requests in flight):

* ``ficha radiusd`` on the benchmark's scratch database, ``FICHA_RADIUS_WORKERS``
  processes sharing the ports (SO_REUSEPORT; one per core on PostgreSQL);
* Debian's ``freeradius`` (``apt-get install freeradius freeradius-postgresql``) in the
  foreground with a configuration generated in a temporary directory: ``rlm_sql``
  (postgresql driver, the shipped schema and authorize queries) on its own scratch
  database in the same PostgreSQL server, ``pap`` for the password; accounting with the
  shipped Start query and an Interim-Update query that also posts a debit (a ledger row
  and a balance update in the same statement) so both sides write money on every interim.

Per server and round: Access-Requests (PAP) in a closed loop (``CONCURRENCY`` in flight) →
Access-Accepts/s at peak; then an open loop at 80 % of that peak → p99 latency; the same
for Accounting Interim-Updates (every interim adds one minute, so it costs one increment
of the plan). Rows: Ficha's accepts/s and interims/s as ratios of FreeRADIUS' (target ≥
1.0×), and Ficha's p99 at 80 % of its peak as ``1000 / p99 ms`` against 50 (p99 ≤ 20 ms).
Last, Ficha once more at FreeRADIUS' 80 % rate: the two p99s under the same offered load.
Afterwards every Ficha session's debits are checked against what its usage costs (no
double debit, nothing missing); a request Ficha lost, answered twice or rejected fails
the run. On SQLite the benchmark is skipped (the issue measures accounts in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, connections
from django.db.models import Sum

from ficha.accounts.models import Customer
from ficha.core import audit, clock
from ficha.hotspot import services as hs
from ficha.hotspot.models import AccountingRecord, HotspotSession, LoginTicket, Nas
from ficha.ledger.models import Entry
from ficha.tariffs import pricing

from .. import radload
from ..runner import Context, Measurement, register

SECRET = b"bench-radius-secret"
PASSWORD = "bench-password-16"  # as long as a ticket
CONCURRENCY = int(os.environ.get("BENCH_RADIUS_CONCURRENCY", "64"))
AUTH_USERS = int(os.environ.get("BENCH_RADIUS_USERS", "128"))
SESSIONS = int(os.environ.get("BENCH_RADIUS_SESSIONS", "512"))
SOCKETS = 32  # source ports of the generator (several NAS): SO_REUSEPORT spreads them
P99_TARGET_MS = 20.0
TIMEOUT = 10.0  # seconds before a request counts as lost (a NAS retransmits after 3-5 s)
STEP_SECONDS = 60  # every interim adds a minute
STEP_OCTETS = 250_000
PRICE_PER_HOUR = 600  # 10 per minute
CREDIT = 10**9
LOCAL: list[int] = []  # the generator's source ports, kept for the whole run
ACTOR = audit.Actor(source="bench", label="radius benchmark")

FREERADIUS_SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
FREERADIUS_QUERIES = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/queries.conf")


def _free_udp_ports(n: int) -> list[int]:
    """``n`` UDP ports free on 127.0.0.1 (also free for TCP is not needed)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU seconds of each of these processes (Linux /proc; {} elsewhere)."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def _cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings (a process started meanwhile counts whole;
    one that ended meanwhile is missed)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) clock ticks of every core since boot (Linux /proc/stat; (0, 0)
    elsewhere): busy is all but idle and I/O wait."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    total = sum(fields[:8])  # guest time is counted in user time already
    return total - fields[3] - fields[4], total


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """The machine's busy share between two readings (0..1), None without them."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 3) if total > 0 else None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _backend_pids(database: str) -> list[int]:
    """PostgreSQL server processes serving ``database`` (same machine only)."""
    try:
        with _pg_admin() as admin:
            return [r[0] for r in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]
    except Exception:
        return []


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


def freeradius_binary() -> str | None:
    for name in ("freeradius", "radiusd"):
        path = shutil.which(name) or (f"/usr/sbin/{name}"
                                      if os.path.exists(f"/usr/sbin/{name}") else None)
        if path:
            return path
    return None


def missing_freeradius() -> str:
    """Why FreeRADIUS + rlm_sql_postgresql cannot run here ('' if it can)."""
    if freeradius_binary() is None:
        return "freeradius is not installed (apt-get install freeradius freeradius-postgresql)"
    if not any(Path(d, "rlm_sql_postgresql.so").exists()
               for d in ("/usr/lib/freeradius", "/usr/lib64/freeradius")):
        return "rlm_sql_postgresql is not installed (apt-get install freeradius-postgresql)"
    if not FREERADIUS_SCHEMA.exists() or not FREERADIUS_QUERIES.exists():
        return f"FreeRADIUS' PostgreSQL schema/queries not found in {FREERADIUS_SCHEMA.parent}"
    return ""


# --- FreeRADIUS: its database and a generated configuration -----------------------------
INTERIM_QUERY = r"""
		interim-update {
			query = "\
				WITH old AS ( \
					SELECT RadAcctId, COALESCE(AcctSessionTime, 0) AS t \
					FROM ${....acct_table1} \
					WHERE AcctUniqueId = '%{Acct-Unique-Session-Id}' AND AcctStopTime IS NULL \
					FOR UPDATE), \
				upd AS ( \
					UPDATE ${....acct_table1} r SET \
						AcctSessionTime = GREATEST(old.t, %{%{Acct-Session-Time}:-0}), \
						AcctInterval = (${....event_timestamp_epoch} - EXTRACT(EPOCH FROM (COALESCE(r.AcctUpdateTime, r.AcctStartTime)))), \
						AcctUpdateTime = ${....event_timestamp}, \
						AcctInputOctets = GREATEST(r.AcctInputOctets, ('%{%{Acct-Input-Gigawords}:-0}'::bigint << 32) + '%{%{Acct-Input-Octets}:-0}'::bigint), \
						AcctOutputOctets = GREATEST(r.AcctOutputOctets, ('%{%{Acct-Output-Gigawords}:-0}'::bigint << 32) + '%{%{Acct-Output-Octets}:-0}'::bigint) \
					FROM old WHERE r.RadAcctId = old.RadAcctId \
					RETURNING r.RadAcctId AS id, old.t AS before, r.AcctSessionTime AS after), \
				debit AS ( \
					INSERT INTO bench_ledger (username, radacctid, amount, created) \
					SELECT '%{SQL-User-Name}', id, \
						(CEIL(after / 60.0) - CEIL(before / 60.0))::bigint * __PER_MINUTE__, now() \
					FROM upd WHERE after > before \
					RETURNING amount) \
				UPDATE bench_balance SET balance = balance - COALESCE((SELECT SUM(amount) FROM debit), 0) \
				WHERE username = '%{SQL-User-Name}' AND EXISTS (SELECT 1 FROM upd)"
		}
"""  # noqa: E501


def _replace_block(text: str, opener: str, block: str) -> str:
    """``text`` with the brace block starting at ``opener`` replaced by ``block``."""
    start = text.index(opener)
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[:start] + block.strip("\n") + text[i + 1:]
    raise ValueError(f"unbalanced block {opener!r}")


def freeradius_config(directory: Path, *, db: dict, auth_port: int, acct_port: int,
                      threads: int, pool: int) -> None:
    """Write radiusd.conf (and the SQL queries) for a bench FreeRADIUS into ``directory``."""
    for sub in ("log", "run", "radacct"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    queries = FREERADIUS_QUERIES.read_text()
    queries = _replace_block(queries, "interim-update {",
                             INTERIM_QUERY.replace("__PER_MINUTE__", str(PRICE_PER_HOUR // 60)))
    (directory / "queries.conf").write_text(queries)
    (directory / "dictionary").write_text("")
    secret = SECRET.decode()
    (directory / "radiusd.conf").write_text(f"""
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {directory}/log
raddbdir = {directory}
radacctdir = {directory}/radacct
name = radiusd
confdir = {directory}
modconfdir = {directory}
run_dir = {directory}/run
db_dir = {directory}
libdir = /usr/lib/freeradius
pidfile = {directory}/run/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
	destination = stdout
	auth = no
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}}
thread pool {{
	start_servers = {threads}
	max_servers = {threads}
	min_spare_servers = {threads}
	max_spare_servers = {threads}
	max_requests_per_server = 0
	auto_limit_acct = no
}}
client bench {{
	ipaddr = 127.0.0.1
	secret = {secret}
	require_message_authenticator = yes
}}
modules {{
	expr {{
	}}
	pap {{
		normalise = yes
	}}
	sql {{
		dialect = "postgresql"
		driver = "rlm_sql_postgresql"
		postgresql {{
			send_application_name = yes
		}}
		server = "{db['host']}"
		port = {db['port']}
		login = "{db['user']}"
		password = "{db['password']}"
		radius_db = "{db['name']}"
		acct_table1 = "radacct"
		acct_table2 = "radacct"
		postauth_table = "radpostauth"
		authcheck_table = "radcheck"
		groupcheck_table = "radgroupcheck"
		authreply_table = "radreply"
		groupreply_table = "radgroupreply"
		usergroup_table = "radusergroup"
		delete_stale_sessions = yes
		pool {{
			start = {pool}
			min = {pool}
			max = {pool}
			spare = {pool}
			uses = 0
			retry_delay = 1
			lifetime = 0
			idle_timeout = 0
		}}
		read_clients = no
		client_table = "nas"
		group_attribute = "SQL-Group"
		$INCLUDE {directory}/queries.conf
	}}
}}
policy {{
	acct_unique {{
		update request {{
			&Acct-Unique-Session-Id := "%{{md5:%{{User-Name}},%{{Acct-Session-ID}},%{{NAS-IP-Address}}}}"
		}}
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = 127.0.0.1
		port = {auth_port}
	}}
	listen {{
		type = acct
		ipaddr = 127.0.0.1
		port = {acct_port}
	}}
	authorize {{
		sql
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
	}}
	preacct {{
		acct_unique
	}}
	accounting {{
		sql
	}}
	post-auth {{
	}}
}}
""")  # noqa: E501


def _pg_params() -> dict:
    s = connection.settings_dict
    return {"host": s["HOST"] or "127.0.0.1", "port": int(s["PORT"] or 5432),
            "user": s["USER"] or "postgres", "password": s["PASSWORD"] or ""}


def _pg_connect(dbname: str):
    """An autocommit connection to ``dbname`` on the benchmark's PostgreSQL server."""
    import psycopg

    p = _pg_params()
    return psycopg.connect(host=p["host"], port=p["port"], user=p["user"],
                           password=p["password"] or None, dbname=dbname, autocommit=True)


def _pg_admin():
    return _pg_connect("postgres")


def _checkpoints() -> tuple[int, int]:
    """(checkpoints begun, pages the checkpointer wrote) so far on the PostgreSQL server.
    A phase during which a checkpoint began or wrote is marked in the log and the JSON:
    the run writes hundreds of MB of WAL a minute, so max_wal_size starts one every
    minute or two, spread over a minute, and its writes and the full-page images that
    follow it slow every commit meanwhile — for both servers, in whichever phase they
    fall (a p99 over 5 s of requests is the worst 1 % of them)."""
    with _pg_admin() as conn:
        begun, pages = conn.execute("SELECT checkpoints_timed + checkpoints_req, "
                                    "buffers_checkpoint FROM pg_stat_bgwriter").fetchone()
        return int(begun), int(pages)


def _autovacuums(database: str) -> dict[str, int]:
    """{table: autovacuums and autoanalyzes finished so far} in a server's database. A
    phase during which autovacuum finished on a table is marked in the log and the JSON:
    on two cores, a worker vacuuming a table the run fills takes CPU from the servers
    (counted when it ends: one still running is not seen)."""
    if not database:
        return {}
    with _pg_connect(database) as conn:
        return {name: int(n) for name, n in conn.execute(
            "SELECT relname, autovacuum_count + autoanalyze_count FROM pg_stat_user_tables "
            "WHERE autovacuum_count + autoanalyze_count > 0")}


@contextlib.contextmanager
def freeradius_database(users: list[str], sessions_users: list[str]):
    """A scratch database with FreeRADIUS' schema, the users (Cleartext-Password, a
    Session-Timeout reply) and the balance table the interim query debits."""

    name = f"ficha_bench_fr_{os.getpid()}"
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        p = _pg_params()
        with _pg_connect(name) as conn:
            conn.execute(FREERADIUS_SCHEMA.read_text())
            conn.execute("CREATE TABLE bench_balance (username text PRIMARY KEY, "
                         "balance bigint NOT NULL)")
            conn.execute("CREATE TABLE bench_ledger (id bigserial PRIMARY KEY, "
                         "username text NOT NULL, radacctid bigint NOT NULL, "
                         "amount bigint NOT NULL, created timestamptz NOT NULL)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO radcheck (username, attribute, op, value) "
                                "VALUES (%s, 'Cleartext-Password', ':=', %s)",
                                [(u, PASSWORD) for u in users])
                cur.executemany("INSERT INTO radreply (username, attribute, op, value) "
                                "VALUES (%s, 'Session-Timeout', ':=', '3600')",
                                [(u,) for u in users])
                cur.executemany("INSERT INTO bench_balance VALUES (%s, %s)",
                                [(u, CREDIT) for u in users + sessions_users])
            conn.execute("ANALYZE")
        yield {**p, "name": name}
    finally:
        with _pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the servers ------------------------------------------------------------------------
class Server:
    def __init__(self, name: str, label: str, argv: list[str], auth_port: int,
                 acct_port: int, log_path: Path, env: dict | None = None):
        self.name, self.label, self.argv = name, label, argv
        self.auth = ("127.0.0.1", auth_port)
        self.acct = ("127.0.0.1", acct_port)
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.auth_pool: list[bytes] = []
        self.database = ""
        self.last_row: dict = {}
        self.probe = b""
        self.results: dict[str, list[dict]] = {}
        self.step = 0  # interim steps already sent to this server (per session)
        self.max_step: dict[int, int] = {}

    def start(self):
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                     env=self.env, start_new_session=True)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self._log.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        return [self.proc.pid, *_children(self.proc.pid)]

    def cpu(self) -> tuple[dict, dict]:
        """CPU seconds so far of the server's processes and of its database backends."""
        return _cpu_seconds(self.pids()), _cpu_seconds(_backend_pids(self.database))

    def run(self, coro) -> radload.Result:
        before, began = self.cpu(), _checkpoints()
        cleaned = _autovacuums(self.database)
        machine, generator = _machine_jiffies(), time.process_time()
        result = asyncio.run(coro)
        generator, machine = time.process_time() - generator, _busy(machine, _machine_jiffies())
        after, ended = self.cpu(), _checkpoints()
        result.cpu = (_cpu_used(before[0], after[0]), _cpu_used(before[1], after[1]))
        result.checkpoints = {"begun": ended[0] - began[0], "pages": ended[1] - began[1]}
        now = _autovacuums(self.database)
        result.autovacuum = sorted(t for t, n in now.items() if n > cleaned.get(t, 0))
        # the whole machine (both servers, PostgreSQL, this generator) and the generator's
        # own share: on a small machine they run on the same cores as the server measured
        result.machine_busy, result.generator_cpu = machine, generator
        return result

    def record(self, phase: str, result: radload.Result):
        row = result.as_dict()
        cpu = getattr(result, "cpu", None)
        if cpu and result.answered:
            row["server_cpu_ms_per_request"] = round(cpu[0] * 1000 / result.answered, 3)
            row["db_cpu_ms_per_request"] = round(cpu[1] * 1000 / result.answered, 3)
            row["generator_cpu_ms_per_request"] = round(
                getattr(result, "generator_cpu", 0.0) * 1000 / result.answered, 3)
        row["machine_busy"] = getattr(result, "machine_busy", None)
        row["checkpoints"] = getattr(result, "checkpoints", {"begun": 0, "pages": 0})
        row["autovacuum"] = getattr(result, "autovacuum", [])
        self.results.setdefault(phase, []).append(row)
        self.last_row = row


def auth_packets(users: list[str], macs: list[str], count: int,
                 password=lambda k, u: PASSWORD) -> list[bytes]:
    """Access-Requests (PAP): packet ``k`` for user ``k % len(users)``."""
    out = []
    n = len(users)
    for k in range(count):
        _s, ident = radload.slot(k, SOCKETS)
        u = k % n
        out.append(radload.access_request(ident, SECRET, users[u], password(k, u),
                                          mac=macs[u]))
    return out


class Tickets:
    """Ficha's side of the logins: one-time login tickets, as the captive portal issues
    them after its own login (``hotspot.services.issue_ticket``) and the gateway sends as
    the password. They are written in bulk before each run (not timed); the ticket for a
    user's n-th login is the newest unused one then, as when a portal issues it just
    before the gateway asks. The issue's 2-minute validity is stretched to the run's
    length. The tickets are removed after each run."""

    def __init__(self, users: list[str]):
        self.users = users
        self.ids = dict(Customer.objects.filter(username__in=users)
                        .values_list("username", "pk"))
        self.rounds = 0
        # Each pool's tickets are newer than every earlier pool's (its first round the
        # newest): a user's newest unused ticket is never behind the dead index entries
        # of the pools used and deleted before (created_at only moves forward).
        self.top = clock.now() - dt.timedelta(days=30)
        self.rate = 0.0  # highest Access-Accepts/s seen so far

    def packets(self, macs: list[str], count: int) -> list[bytes]:
        n = len(self.users)
        rounds = -(-count // n)
        first = self.rounds
        self.rounds += rounds
        newest = self.top + dt.timedelta(seconds=rounds)
        self.top = newest
        expires = clock.now() + dt.timedelta(hours=4)
        salt = os.urandom(2).hex()

        def secret(r: int, u: int) -> str:
            return f"{salt}{r:07d}{u:05d}"[:16]

        rows = [LoginTicket(customer_id=self.ids[user], secret=secret(first + r, u),
                            created_at=newest - dt.timedelta(seconds=r),
                            expires_at=expires)
                for r in range(rounds) for u, user in enumerate(self.users)]
        LoginTicket.objects.bulk_create(rows, batch_size=5000)
        # Statistics for the table as it now is, as autovacuum keeps them where a portal
        # writes its tickets one at a time: planned from the statistics of before this bulk
        # write, the five-newest-tickets look-up sorted every ticket of the user (hundreds
        # here) instead of reading five index entries (bench round 2: 0.1 -> 0.5 ms of
        # PostgreSQL CPU per login).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(LoginTicket._meta.db_table)}")
        connections.close_all()
        return auth_packets(self.users, macs, count,
                            password=lambda k, u: secret(first + k // n, u))

    def clear(self) -> None:
        """Delete the run's tickets: a bench user logs in hundreds of times a minute, and
        a real customer's handful of tickets an hour is what the worker keeps
        (``hotspot.purge_tickets``)."""
        LoginTicket.objects.filter(customer_id__in=self.ids.values()).delete()
        connections.close_all()


def start_packets(session_users: list[str], macs: list[str], run_tag: str) -> list[bytes]:
    return [radload.accounting_request(radload.slot(k, SOCKETS)[1], SECRET, radload.START,
                                       f"{run_tag}-{k}", user, mac=macs[k])
            for k, user in enumerate(session_users)]


def interim_packets(server: Server, session_users, macs, run_tag: str, count: int):
    n = len(session_users)
    out, steps = [], []
    for k in range(count):
        j = k % n
        step = server.step + k // n + 1
        out.append(radload.accounting_request(
            radload.slot(k, SOCKETS)[1], SECRET, radload.INTERIM, f"{run_tag}-{j}",
            session_users[j], session_time=step * STEP_SECONDS,
            input_octets=step * STEP_OCTETS, output_octets=step * STEP_OCTETS * 3,
            mac=macs[j]))
        steps.append((j, step))
    return out, steps


def _advance(server: Server, steps, result: radload.Result):
    """Remember the highest step each session was sent (answered or not)."""
    highest = 0
    for k in range(result.sent):
        j, step = steps[k]
        if step > server.max_step.get(j, 0):
            server.max_step[j] = step
        highest = max(highest, step)
    server.step = max(server.step, highest)


async def _wait_ready(server: Server, packet: bytes, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited ({server.proc.returncode}):\n"
                               + server.log_tail())
        res = await radload.closed_loop(server.auth, [packet], SECRET, concurrency=1,
                                        seconds=1, sockets=1, timeout=0.5)
        if res.answered:
            return
    raise RuntimeError(f"{server.name} did not answer within {seconds} s:\n"
                       + server.log_tail())


# --- Ficha's side: data and the check of the books ----------------------------------------
def _ficha_data(tag: str, n_users: int, n_sessions: int):
    """Auth users (password, credit), accounting users (credit), a plan, the NAS."""
    plan = hs.create_plan(ACTOR, name=f"bench {tag}", price_per_hour=PRICE_PER_HOUR,
                          increment_seconds=60, interim_interval=60, is_default=True,
                          devices=1000)
    for old in Nas.objects.filter(active=True, address="127.0.0.1"):  # another benchmark's:
        hs.update_nas(ACTOR, old, active=False)  # one active NAS per address
    hs.create_nas(ACTOR, name=f"bench {tag}", address="127.0.0.1", secret=SECRET.decode(),
                  vendor="mikrotik", require_message_authenticator=True)
    users = [f"ra{tag}{i:04d}" for i in range(n_users)]
    session_users = [f"rs{tag}{i:05d}" for i in range(n_sessions)]
    from ficha.accounts import services as accounts

    hashed = make_password(PASSWORD)  # one hash for all: the set-up is not timed
    for name in users + session_users:
        c = accounts.create_customer(ACTOR, name)
        accounts.adjust(ACTOR, c, CREDIT, "bench credit")
    Customer.objects.filter(username__in=users).update(password=hashed)
    return plan, users, session_users


def check_books(plan, server: Server, run_tag: str) -> dict:
    """Every session debited exactly what its usage costs: no double debit, nothing
    missing. Returns counts; ``problems`` lists what is wrong."""
    tariff = plan.tariff
    problems = []
    sessions = {s.acct_session_id: s for s in HotspotSession.objects.filter(
        acct_session_id__startswith=f"{run_tag}-")}
    checked = debits = 0
    for j, step in sorted(server.max_step.items()):
        s = sessions.get(f"{run_tag}-{j}")
        if s is None:
            problems.append(f"session {run_tag}-{j} missing")
            continue
        expect = pricing.charge(tariff, step * STEP_SECONDS, step * STEP_OCTETS * 4)
        posted = (Entry.objects.filter(
            transaction__reference=f"hotspot:{s.pk}",
            account_id=s.customer.credit_account_id).aggregate(t=Sum("amount"))["t"] or 0)
        posted *= -s.customer.credit_account.normal_sign  # a debit, in the account's sign
        txs = AccountingRecord.objects.filter(session=s, debit__gt=0).count()
        debits += txs
        if not (s.charged == s.debited == posted == expect):
            problems.append(f"session {s.acct_session_id}: charged {s.charged}, debited "
                            f"{s.debited}, posted {posted}, usage costs {expect}")
        checked += 1
    return {"sessions_checked": checked, "debit_postings": debits,
            "problems": problems[:20], "problem_count": len(problems)}


# --- the benchmark ----------------------------------------------------------------------
@register("radius.servers",
          "Access-Accepts/s, Interim-Updates/s and p99: ficha radiusd vs FreeRADIUS + rlm_sql")
def servers(ctx: Context, *, users: int = AUTH_USERS, sessions: int = SESSIONS,
            concurrency: int = CONCURRENCY) -> list[Measurement]:
    if ctx.vendor != "postgresql":
        ctx.log("radius.servers: PostgreSQL only (FreeRADIUS' rlm_sql runs on the same "
                "server); skipped")
        return []
    why = missing_freeradius()
    if why:
        ctx.log(f"radius.servers: skipped — {why}")
        return []
    seconds = max(2.0, 5 * ctx.seconds) if ctx.fixed_ops is None else 1.0
    rounds = max(1, ctx.repeats // 2) if ctx.fixed_ops is None else 1
    tag = os.urandom(3).hex()
    ctx.log(f"radius.servers: {users} users, {sessions} sessions, set-up…")
    sizes = {"users": users, "sessions": sessions, "concurrency": concurrency}
    plan, users, session_users = _ficha_data(tag, users, sessions)
    macs = [f"02-00-00-{i >> 16 & 255:02X}-{i >> 8 & 255:02X}-{i & 255:02X}"
            for i in range(max(len(users), len(session_users)))]
    # FICHA_RADIUS_WORKERS' default on PostgreSQL (the bench runs with production settings)
    workers = int(os.environ.get("BENCH_RADIUS_WORKERS") or 0) or settings.RADIUS_WORKERS
    threads = int(os.environ.get("BENCH_RADIUS_THREADS") or 0) or 1  # radiusd's default (per kind)
    tmp = Path(tempfile.mkdtemp(prefix="ficha-bench-radius-"))
    connections.close_all()
    started: list[Server] = []
    try:
        with freeradius_database(users, session_users) as frdb:
            ports = _free_udp_ports(4 + SOCKETS)
            LOCAL[:] = ports[4:]
            fr_threads = 8
            freeradius_config(tmp / "raddb", db=frdb, auth_port=ports[0],
                              acct_port=ports[1], threads=fr_threads, pool=fr_threads)
            fr = Server("freeradius",
                        f"FreeRADIUS 3.2 + rlm_sql (postgresql), {fr_threads} threads",
                        [freeradius_binary(), "-f", "-d", str(tmp / "raddb"), "-l", "stdout"],
                        ports[0], ports[1], tmp / "freeradius.log")
            # ficha radiusd on this very database, with production settings
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith("FICHA_") and k != "DJANGO_SETTINGS_MODULE"}
            db = connection.settings_dict
            env.update(FICHA_DATA_DIR=str(tmp / "data"), FICHA_LOG_LEVEL="WARNING",
                       FICHA_RADIUS_WORKERS=str(workers),
                       FICHA_SECRET_KEY=settings.SECRET_KEY,
                       FICHA_DATABASE_URL=(f"postgres://{quote(db['USER'] or '')}:"
                                           f"{quote(db['PASSWORD'] or '')}@{db['HOST']}:"
                                           f"{db['PORT'] or 5432}/{quote(db['NAME'])}"))
            gather = os.environ.get("BENCH_RADIUS_GATHER_MICROSECONDS")
            if gather:  # another batching wait than the default, for a comparison
                env["FICHA_RADIUS_GATHER_MICROSECONDS"] = gather
            ficha = Server("ficha", f"ficha radiusd, {workers} processes x {threads} threads",
                           [sys.executable, "-c", "from ficha.cli import main; main()",
                            "radiusd", "--auth", f"127.0.0.1:{ports[2]}",
                            "--acct", f"127.0.0.1:{ports[3]}", "--threads", str(threads),
                            "--processes", str(workers)],
                           ports[2], ports[3], tmp / "ficha.log", env)
            ficha.database = connection.settings_dict["NAME"]
            fr.database = frdb["name"]
            both = [ficha, fr]
            for s in both:
                s.start()
                started.append(s)
            tickets = Tickets(users)
            fr.auth_pool = auth_packets(users, macs, int(8000 * seconds))
            fr.probe = fr.auth_pool[0]
            ficha.probe = tickets.packets(macs[:1], 1)[0]
            for s in both:
                asyncio.run(_wait_ready(s, s.probe))
            tickets.clear()
            ctx.log("radius.servers: warm-up (every user once)…")
            for s in both:
                warm = (tickets.packets(macs, len(users)) if s is ficha
                        else fr.auth_pool[:len(users)])
                res = asyncio.run(radload.closed_loop(s.auth, warm, SECRET, concurrency=8,
                                                      seconds=600, local_ports=LOCAL,
                                                      timeout=60))
                if res.codes.get(radload.ACCESS_ACCEPT, 0) != len(warm):
                    raise RuntimeError(f"{s.name} warm-up: {res.as_dict()}\n{s.log_tail()}")
                if s is ficha:
                    tickets.rate = res.rate
            tickets.clear()
            starts = start_packets(session_users, macs, f"{tag}")
            for s in both:
                res = asyncio.run(radload.closed_loop(s.acct, starts, SECRET,
                                                      concurrency=16, seconds=600,
                                                      local_ports=LOCAL, timeout=60))
                if res.answered != len(starts):
                    raise RuntimeError(f"{s.name} Accounting-Start: {res.as_dict()}\n"
                                       + s.log_tail())
            # The run packs days of accounting into minutes (every interim adds a minute):
            # its sessions began long ago, or Ficha would believe no session time beyond
            # what a session can have lasted on its clock (HotspotSession.AHEAD).
            HotspotSession.objects.filter(acct_session_id__startswith=f"{tag}-").update(
                started_at=clock.now() - dt.timedelta(days=365))
            connections.close_all()
            for r in range(rounds):
                order = both if r % 2 == 0 else both[::-1]
                for s in order:
                    _vacuum(s.database)
                    _auth_round(ctx, s, seconds, tickets, macs, concurrency)
                for s in order:
                    _vacuum(s.database)
                    _acct_round(ctx, s, session_users, macs, tag, seconds, concurrency)
            _same_load(ctx, ficha, fr, tickets, macs, session_users, tag, seconds)
            books = check_books(plan, ficha, tag)
    finally:
        for s in started:
            s.stop()
            errors = [line for line in s.log_tail(10_000).splitlines()
                      if "not handled" in line or "Error" in line or "ERROR" in line]
            if errors:
                ctx.log(f"radius.servers: {s.name} logged {len(errors)} errors, e.g.:")
                for line in errors[:5]:
                    ctx.log(f"    {line[:300]}")
        shutil.rmtree(tmp, ignore_errors=True)
    return _measurements(ctx, ficha, fr, books, sizes)


def _vacuum(database: str) -> None:
    """VACUUM (ANALYZE) a server's database before each timed phase (not timed), for both
    servers: what autovacuum does for a production database between the moments this
    bench packs together (its run writes hours of accounting in seconds). Without it the
    ledger's balances are summed from a heap page per entry instead of from the index
    alone (Ficha's interims: 0.2 -> 0.5 ms of PostgreSQL CPU each by round 2, with ~150
    debits per account), and FreeRADIUS' radacct updates pile up dead rows."""
    with _pg_connect(database) as conn:
        conn.execute("VACUUM (ANALYZE)")


def _auth_round(ctx: Context, s: Server, seconds: float, tickets: Tickets, macs,
                concurrency: int):
    # Enough tickets for four times the last rate seen (tickets written in advance pile
    # up unused on the users, which a real customer's few tickets do not).
    pool = (tickets.packets(macs, int(max(500, 4 * tickets.rate) * seconds))
            if s.name == "ficha" else s.auth_pool)
    peak = s.run(radload.closed_loop(s.auth, pool, SECRET, concurrency=concurrency,
                                     seconds=seconds, local_ports=LOCAL, timeout=_timeout(ctx)))
    s.record("auth_peak", peak)
    accepts = peak.codes.get(radload.ACCESS_ACCEPT, 0) / peak.seconds
    ctx.log(f"  {s.name}: {accepts:,.0f} Access-Accepts/s at {concurrency} in flight "
            f"(lost {peak.lost}, p99 {peak.percentile(0.99) * 1000:.1f} ms, {_cpu_text(s)}"
            f"{_marks(s)})")
    rate = max(1.0, 0.8 * accepts)
    if s.name == "ficha":
        tickets.rate = max(tickets.rate, accepts)
        tickets.clear()
        pool = tickets.packets(macs, int(rate * seconds) + 1)
    at80 = _auth_open(ctx, s, pool, rate, seconds, "auth_80")
    if s.name == "ficha":
        tickets.clear()
    ctx.log(f"  {s.name}: at {rate:,.0f}/s p99 {at80.percentile(0.99) * 1000:.1f} ms "
            f"(lost {at80.lost}{_marks(s)})")


def _acct_round(ctx: Context, s: Server, session_users, macs, tag: str, seconds: float,
                concurrency: int):
    packets, steps = interim_packets(s, session_users, macs, tag, int(8000 * seconds))
    peak = s.run(radload.closed_loop(s.acct, packets, SECRET, concurrency=concurrency,
                                     seconds=seconds, local_ports=LOCAL, timeout=_timeout(ctx)))
    _advance(s, steps, peak)
    s.record("acct_peak", peak)
    ctx.log(f"  {s.name}: {peak.rate:,.0f} Interim-Updates/s at {concurrency} in flight "
            f"(lost {peak.lost}, p99 {peak.percentile(0.99) * 1000:.1f} ms, {_cpu_text(s)}"
            f"{_marks(s)})")
    rate = max(1.0, 0.8 * peak.rate)
    at80 = _acct_open(ctx, s, session_users, macs, tag, rate, seconds, "acct_80")
    ctx.log(f"  {s.name}: at {rate:,.0f}/s p99 {at80.percentile(0.99) * 1000:.1f} ms "
            f"(lost {at80.lost}{_marks(s)})")


def _auth_open(ctx: Context, s: Server, pool, rate: float, seconds: float, phase: str):
    """Access-Requests from ``pool`` in an open loop at ``rate``, recorded as ``phase``."""
    res = s.run(radload.open_loop(s.auth, pool, SECRET, rate=rate, seconds=seconds,
                                  local_ports=LOCAL, timeout=_timeout(ctx)))
    s.record(phase, res)
    return res


def _acct_open(ctx: Context, s: Server, session_users, macs, tag: str, rate: float,
               seconds: float, phase: str):
    """Interim-Updates (each session's next steps) in an open loop at ``rate``, recorded
    as ``phase``."""
    packets, steps = interim_packets(s, session_users, macs, tag, int(rate * seconds) + 1)
    res = s.run(radload.open_loop(s.acct, packets, SECRET, rate=rate, seconds=seconds,
                                  local_ports=LOCAL, timeout=_timeout(ctx)))
    _advance(s, steps, res)
    s.record(phase, res)
    return res


def _same_load(ctx: Context, ficha: Server, fr: Server, tickets: Tickets, macs,
               session_users, tag: str, seconds: float) -> None:
    """Ficha at FreeRADIUS' 80 % load (its median peak x 0.8), open loop: the two
    servers' p99 under the same offered load (each one's own 80 % differs by the ratio
    of their peaks)."""
    rate = 0.8 * _peak_accepts(fr)
    _vacuum(ficha.database)
    res = _auth_open(ctx, ficha, tickets.packets(macs, int(rate * seconds) + 1), rate,
                     seconds, "auth_same")
    tickets.clear()
    ctx.log(f"  ficha at FreeRADIUS' 80 % ({rate:,.0f} Access-Requests/s): p99 "
            f"{res.percentile(0.99) * 1000:.1f} ms (lost {res.lost}{_marks(ficha)})")
    rate = 0.8 * _peak_interims(fr)
    _vacuum(ficha.database)
    res = _acct_open(ctx, ficha, session_users, macs, tag, rate, seconds, "acct_same")
    ctx.log(f"  ficha at FreeRADIUS' 80 % ({rate:,.0f} Interim-Updates/s): p99 "
            f"{res.percentile(0.99) * 1000:.1f} ms (lost {res.lost}{_marks(ficha)})")


def _peak_accepts(s: Server) -> float:
    """The median of a server's Access-Accepts/s at peak."""
    return _median([r["codes"].get(str(radload.ACCESS_ACCEPT), 0) / r["seconds"]
                    for r in s.results["auth_peak"]])


def _peak_interims(s: Server) -> float:
    """The median of a server's Interim-Updates/s at peak."""
    return _median([r["rate"] for r in s.results["acct_peak"]])


def _timeout(ctx: Context) -> float:
    """Seconds before a request counts as lost: longer for the smoke test, which runs
    beside other tests on a busy machine."""
    return TIMEOUT if ctx.fixed_ops is None else 60.0


def _cpu_text(s: Server) -> str:
    row = s.last_row
    return (f"CPU/request: server {row.get('server_cpu_ms_per_request', '?')} ms, "
            f"database {row.get('db_cpu_ms_per_request', '?')} ms, "
            f"generator {row.get('generator_cpu_ms_per_request', '?')} ms")


def _marks(s: Server) -> str:
    """What the log says of the phase just recorded beyond its numbers."""
    busy = s.last_row.get("machine_busy")
    text = f"; machine {busy:.0%} busy" if busy is not None else ""
    tables = s.last_row.get("autovacuum")
    if tables:
        text += f"; autovacuum of {', '.join(tables)} finished during it"
    return text + _checkpoint_marks(s)


def _checkpoint_marks(s: Server) -> str:
    ckpt = s.last_row.get("checkpoints") or {}
    if ckpt.get("begun"):
        return "; a PostgreSQL checkpoint began during it"
    if ckpt.get("pages"):
        return f"; a PostgreSQL checkpoint wrote {ckpt['pages']:,} pages during it"
    return ""


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if values else 0.0


def _measurements(ctx: Context, ficha: Server, fr: Server, books: dict,
                  sizes: dict) -> list[Measurement]:
    def p99(s, phase):
        return _median([r["p99_ms"] for r in s.results[phase]])

    losses = {s.name: {ph: {"lost": sum(r["lost"] for r in rs),
                            "duplicates": sum(r["duplicates"] for r in rs),
                            "late": sum(r["late"] for r in rs),
                            "bad": sum(r["bad"] for r in rs),
                            "rejects": sum(r["codes"].get(str(radload.ACCESS_REJECT), 0)
                                           for r in rs)}
                       for ph, rs in s.results.items()} for s in (ficha, fr)}
    details = {"servers": {s.name: {"label": s.label, "runs": s.results} for s in (ficha, fr)},
               "losses": losses, "books": books, **sizes}
    ctx.log(f"radius.servers: losses {losses}")
    ctx.log(f"radius.servers: books {books['sessions_checked']} sessions checked, "
            f"{books['debit_postings']} debit postings, {books['problem_count']} problems")
    for problem in books["problems"]:
        ctx.log(f"  {problem}")
    bad = [f"{ph}: {v}" for ph, v in losses["ficha"].items()
           if v["lost"] > v["late"] or v["duplicates"] or v["bad"] or v["rejects"]]
    if books["problem_count"] or bad:
        raise RuntimeError("ficha radiusd lost, duplicated or rejected requests, or the "
                           f"books are wrong: {bad} {books['problems'][:3]}")
    rows = []
    for name, unit, fn in (("radius[Access-Accept]", "accepts/s", _peak_accepts),
                           ("radius[Interim-Update]", "interims/s", _peak_interims)):
        rows.append(Measurement(
            name=name, unit=unit, value=fn(ficha), baseline=fn(fr), target=1.0,
            subject_label=ficha.label, baseline_label=fr.label, details=details))
    for name, phase in (("radius[Access-Accept] p99 at 80%", "auth_80"),
                        ("radius[Interim-Update] p99 at 80%", "acct_80")):
        ms = p99(ficha, phase)
        rows.append(Measurement(
            name=f"{name} = {ms:.1f} ms", unit="1/p99", value=1000.0 / max(ms, 1e-6),
            baseline=1000.0 / P99_TARGET_MS, target=1.0, baseline_unit="1/p99",
            subject_label=f"ficha p99 {ms:.2f} ms (FreeRADIUS {p99(fr, phase):.2f} ms)",
            baseline_label=f"p99 {P99_TARGET_MS:.0f} ms",
            details={"ficha_p99_ms": ms, "freeradius_p99_ms": p99(fr, phase)}))
    for name, same, phase in (("Access-Accept", "auth_same", "auth_80"),
                              ("Interim-Update", "acct_same", "acct_80")):
        if same not in ficha.results:
            continue
        ms, theirs = p99(ficha, same), p99(fr, phase)
        rows.append(Measurement(
            name=f"radius[{name}] p99 at FreeRADIUS' 80% load = {ms:.1f} ms",
            unit="1/p99", value=1000.0 / max(ms, 1e-6), baseline=1000.0 / max(theirs, 1e-6),
            target=1.0, baseline_unit="1/p99", subject_label=f"ficha p99 {ms:.2f} ms",
            baseline_label=f"FreeRADIUS p99 {theirs:.2f} ms",
            details={"ficha_p99_ms": ms, "freeradius_p99_ms": theirs}))
    return rows
