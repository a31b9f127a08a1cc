// The cluster fixture itself: three real nodes, a write on the primary is read back on both
// replicas, and the helpers later tests rely on (pause replay, promote) do what they say.
#include <catch2/catch.hpp>

#include "cluster.hpp"
#include "pg.hpp"

using pgsteer::test::cluster;
namespace pg = pgsteer::test::pg;

TEST_CASE("a row written on the primary is read back from both replicas",
          "[integration][cluster]") {
  auto& c = cluster::shared();
  REQUIRE(c.nodes() == 3);

  pg::connection primary(c.app_conninfo(0));
  REQUIRE(primary.scalar("select pg_is_in_recovery()") == "f");
  primary.exec("create table if not exists fixture_rows (id int primary key, note text)");
  primary.exec(
      "insert into fixture_rows values (1, 'written on the primary') "
      "on conflict (id) do update set note = excluded.note");
  c.wait_caught_up();

  for (int node = 1; node <= 2; ++node) {
    pg::connection replica(c.app_conninfo(node));
    CHECK(replica.scalar("select pg_is_in_recovery()") == "t");
    CHECK(replica.scalar("select note from fixture_rows where id = 1") == "written on the primary");
    // A replica refuses writes: proof that the roles are real.
    CHECK_THROWS_AS(replica.exec("insert into fixture_rows values (2, 'no')"), pg::error);
  }
}

TEST_CASE("the app user logs in with SCRAM and a wrong password is refused",
          "[integration][cluster]") {
  auto& c = cluster::shared();
  pg::connection app(c.app_conninfo(0));
  CHECK(app.scalar("select current_user") == "app");
  CHECK(app.scalar("select current_setting('password_encryption')") == "scram-sha-256");

  const auto refused = pg::try_connect("host=127.0.0.1 port=" + std::to_string(c.port(0)) +
                                       " user=app password=wrong dbname=app");
  REQUIRE(refused.has_value());
  CHECK_THAT(refused->what(), Catch::Contains("password authentication failed"));
}

TEST_CASE("pausing replay holds a replica back until it is resumed", "[integration][cluster]") {
  auto& c = cluster::shared();
  pg::connection primary(c.app_conninfo(0));
  primary.exec("create table if not exists fixture_lag (id int)");
  c.wait_caught_up();

  c.pause_replay(1);
  primary.exec("insert into fixture_lag values (42)");
  const std::string written = primary.scalar("select pg_current_wal_insert_lsn()");
  c.wait_replayed(2, written);

  pg::connection replica1(c.super_conninfo(1, "app"));
  pg::connection replica2(c.super_conninfo(2, "app"));
  CHECK(replica2.scalar("select count(*) from fixture_lag where id = 42") == "1");
  CHECK(replica1.scalar("select pg_last_wal_replay_lsn() < '" + written + "'::pg_lsn") == "t");
  CHECK(replica1.scalar("select count(*) from fixture_lag where id = 42") == "0");

  c.resume_replay(1);
  c.wait_replayed(1, written);
  CHECK(replica1.scalar("select count(*) from fixture_lag where id = 42") == "1");
}

TEST_CASE("a promoted replica accepts writes after the primary stops", "[integration][cluster]") {
  cluster own({.replicas = 1});
  pg::connection(own.app_conninfo(0)).exec("create table t (id int)");
  own.wait_caught_up();
  own.stop(0);
  own.promote(1);
  CHECK_FALSE(own.is_in_recovery(1));
  pg::connection promoted(own.app_conninfo(1));
  promoted.exec("insert into t values (1)");
  CHECK(promoted.scalar("select count(*) from t") == "1");
}
