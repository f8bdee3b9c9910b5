-- Rollback of 0001_initial_schema: drop the seed's indexes, then its tables,
-- children (which reference users) before their parent.
DROP INDEX IF EXISTS idx_daily_stats_repo;
DROP INDEX IF EXISTS idx_daily_stats_user_date;
DROP TABLE IF EXISTS daily_stats;
DROP INDEX IF EXISTS idx_sessions_status;
DROP INDEX IF EXISTS idx_sessions_repo_pr;
DROP INDEX IF EXISTS idx_sessions_user;
DROP TABLE IF EXISTS time_sessions;
DROP INDEX IF EXISTS idx_users_github_id;
DROP TABLE IF EXISTS users;
