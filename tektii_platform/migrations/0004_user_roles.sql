-- Platform users get roles: 'admin' writes the market data every user's scenarios replay
-- (and is what `platform up` creates); 'user' is everybody else. A revoked user keeps its
-- rows (strategies, scenarios) but none of its keys authenticate any more.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user';
ALTER TABLE users ADD COLUMN revoked_at TEXT;

-- An existing platform keeps someone who can write market data: its local user (made by
-- `platform up`) and its first user become admins.
UPDATE users SET role = 'admin'
 WHERE id IN (SELECT value FROM meta WHERE key = 'local_user_id')
    OR id = (SELECT id FROM users ORDER BY created_at, rowid LIMIT 1);
