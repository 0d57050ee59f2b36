"""The node manager against real PostgreSQL: lifecycle, synchronous standby, failover, rewind, lag."""
from __future__ import annotations

import socket
import threading
from typing import Callable

import pg8000.native
import pytest

from stack.local.rds import runner
from stack.local.rds.errors import CheckpointFailed
from stack.local.rds.nodeconfig import NodeOptions, Upstream
from stack.local.rds.postgres import Node
from tests.stack.local.rds.conftest import streaming_pair, wait_for

STANDBY = NodeOptions(hot_standby=False, replication_timeout_s=1.0)
PRIMARY = NodeOptions(replication_timeout_s=1.0)


def pair(make_node: Callable[[str], Node]) -> tuple[Node, Node]:
    primary, standby = make_node("p"), make_node("s")
    primary.init()
    primary.start(PRIMARY)
    primary.query("CREATE TABLE orders (id int PRIMARY KEY)")
    standby.clone_from(primary.local)
    standby.start(STANDBY)
    primary.set_synchronous_standbys([standby.name])
    primary.wait_synchronous(standby.name, 15)
    return primary, standby


def test_init_start_stop_leaves_nothing_running(make_node: Callable[[str], Node]) -> None:
    node = make_node("a")
    node.init()
    pid = node.start(PRIMARY)

    assert pid in runner.cluster_pids(node.data_dir)
    assert node.query("SELECT current_user, current_setting('listen_addresses')") == [["master", ""]]
    # A refused password: the server's FATAL, or (when it hangs up first) a broken connection.
    with pytest.raises((pg8000.native.DatabaseError, pg8000.native.InterfaceError)):
        pg8000.native.Connection("master", password="wrong", unix_sock=str(node.socket_path), ssl_context=False)

    node.stop("fast")
    assert runner.cluster_pids(node.data_dir) == []
    assert not node.socket_path.exists()
    assert node.pid is None


def test_a_new_database_is_copied_as_files_not_through_the_wal(make_node: Callable[[str], Node]) -> None:
    node = make_node("a")
    node.init()
    node.start(PRIMARY)
    before = node.query("SELECT pg_current_wal_lsn()")[0][0]

    node.create_database("shop")

    written = node.query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), :before)", before=before)[0][0]
    # Copied block by block through shared buffers (WAL_LOG), it wrote 4.3 MB of WAL here.
    assert written < 1024 * 1024, f"{written} bytes of WAL for one CREATE DATABASE"
    node.query("CREATE TABLE t (id int)", dbname="shop")


def test_a_commit_waits_for_the_synchronous_standby(make_node: Callable[[str], Node]) -> None:
    primary, standby = pair(make_node)
    standby.stop("immediate")
    connection = primary.connect(timeout_s=30)
    done = threading.Event()
    failed: list[BaseException] = []  # the commit's error, if it raised instead of being acknowledged

    def commit() -> None:
        try:
            connection.run("INSERT INTO orders VALUES (1)")
        except Exception as error:
            failed.append(error)
        finally:
            done.set()

    threading.Thread(target=commit, daemon=True).start()
    # The commit must not be acknowledged while no standby has it; it is once the standby is back.
    assert not done.wait(1.0), f"the commit returned while no standby had it: {failed or 'acknowledged'}"
    standby.start(STANDBY)
    assert done.wait(15), "the commit was not acknowledged after the standby came back"
    assert not failed, f"the commit failed instead of being acknowledged: {failed[0]!r}"
    assert primary.query("SELECT id FROM orders") == [[1]]
    connection.close()


def test_failover_loses_no_acknowledged_commit_and_rewind_restores_the_pair(make_node: Callable[[str], Node]) -> None:
    primary, standby = pair(make_node)
    acknowledged: list[int] = []
    stop = threading.Event()

    def write() -> None:
        connection = primary.connect()
        for order in range(1, 100_000):
            if stop.is_set():
                break
            try:
                connection.run("INSERT INTO orders VALUES (:id)", id=order)
            except Exception:
                break  # the primary went away: this order was never acknowledged
            acknowledged.append(order)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    wait_for(lambda: len(acknowledged) > 50, "50 acknowledged orders")
    primary.stop("immediate")
    writer.join(10)
    stop.set()
    standby.promote()

    present = {row[0] for row in standby.query("SELECT id FROM orders")}
    assert set(acknowledged) <= present, f"lost acknowledged orders: {sorted(set(acknowledged) - present)[:10]}"

    # The old primary comes back only as the new primary's synchronous standby.
    primary.rewind_from(standby.local)
    primary.start(STANDBY)
    standby.set_synchronous_standbys([primary.name])
    standby.wait_synchronous(primary.name, 15)
    standby.query("INSERT INTO orders VALUES (0)")
    standby.stop("immediate")
    primary.promote()
    assert primary.query("SELECT count(*) FROM orders WHERE id = 0") == [[1]]
    assert not primary.in_recovery()


def test_a_rewind_whose_source_does_not_answer_leaves_the_node_as_it_was(make_node: Callable[[str], Node]) -> None:
    """A source in a cut-off AZ (here a socket that never answers) fails the rewind's first step, the source's
    CHECKPOINT, at libpq's connect timeout. That is not a failed pg_rewind (PostgresError, after which the
    caller clones the node afresh): the node is untouched and starts as it was."""
    node = make_node("p")
    node.init()
    node.start(PRIMARY)
    node.query("CREATE TABLE kept (id int)")
    node.stop("fast")
    with socket.create_server(("127.0.0.1", 0)) as silent:
        with pytest.raises(CheckpointFailed, match="CHECKPOINT on the source of node p"):
            node.rewind_from(Upstream("127.0.0.1", silent.getsockname()[1]))
    node.start(PRIMARY)
    assert not node.in_recovery()
    assert node.query("SELECT count(*) FROM kept") == [[0]]


def test_replica_lag_is_real_and_minus_one_when_not_streaming(make_node: Callable[[str], Node]) -> None:
    primary, replica = make_node("p"), make_node("r")
    primary.init()
    primary.start(PRIMARY)
    primary.query("CREATE TABLE t (id int)")
    replica.clone_from(primary.local)
    replica.start(PRIMARY)
    replica.wait_streaming(15)
    primary.query("INSERT INTO t VALUES (0)")  # a replayed commit gives the replica a replay timestamp
    wait_for(lambda: replica.query("SELECT count(*) FROM t") == [[1]], "the first row on the replica")
    wait_for(lambda: replica.replica_lag_s() == 0.0, "a caught-up replica to report lag 0")

    replica.query("SELECT pg_wal_replay_pause()")
    primary.query("INSERT INTO t VALUES (1)")
    lag = wait_for(lambda: replica.replica_lag_s() > 0 and replica.replica_lag_s(), "lag > 0 while replay is paused")
    assert lag > 0
    replica.query("SELECT pg_wal_replay_resume()")
    wait_for(lambda: replica.replica_lag_s() == 0.0, "lag 0 after replay resumed")
    assert replica.query("SELECT count(*) FROM t") == [[2]]

    primary.stop("fast")
    wait_for(lambda: replica.replica_lag_s() == -1.0, "lag -1 once the primary is gone")


def test_follow_returns_once_the_old_walreceiver_is_gone(make_node: Callable[[str], Node],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The upstream is the same server spelt differently, so the old walreceiver would go on streaming: a
    # wait_streaming right after a reload that had not yet taken effect would take it for the new one. The
    # reload's signal is sent late here, as a busy machine may act on it late.
    primary, replica = streaming_pair(make_node, PRIMARY, standby="r")
    (before,) = replica.query("SELECT pid FROM pg_stat_wal_receiver")
    late = threading.Timer(0.5, replica.reload)
    monkeypatch.setattr(replica, "reload", late.start)
    replica.follow(Upstream(f"{primary.socket_dir}/"))
    assert replica.query("SELECT pid FROM pg_stat_wal_receiver") != [before], "follow returned before the reload"
    late.join()
    monkeypatch.undo()
    replica.wait_streaming(15)
    wait_for(lambda: primary.query("SELECT application_name, state FROM pg_stat_replication") == [[replica.name, "streaming"]],
             "the primary to stream to the replica again")
    # Following the same upstream again changes nothing, and returns at once.
    (streaming,) = replica.query("SELECT pid FROM pg_stat_wal_receiver")
    replica.follow(Upstream(f"{primary.socket_dir}/"))
    assert replica.query("SELECT pid FROM pg_stat_wal_receiver") == [streaming]
