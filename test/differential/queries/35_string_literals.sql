-- String literals in WHERE clauses, UPDATE assignments and INSERT values become parameters of a
-- statement kept by its shape (the harness keeps every shape from its first text): each left to be
-- inferred as a string constant's type is. Routed by a text distribution column, compared with
-- other types (dates, json, arrays, numbers written as strings), in IN, LIKE, CASE, COLLATE, and as
-- a function's argument (which stays a constant).
SELECT username, karma FROM users WHERE username = 'alice';

SELECT username FROM users WHERE username = 'o''brien';

SELECT count(*) FROM users WHERE username = '';

SELECT count(*) FROM users WHERE username = 'alice ';

SELECT count(*) FROM users WHERE username IN ('émile', '用户一', 'zoë', 'nobody');

SELECT count(*) FROM users WHERE username = 'alice' AND karma > 5;

SELECT count(*) FROM users WHERE username LIKE 'user_1%';

SELECT count(*) FROM users WHERE username LIKE 'user!_00%' ESCAPE '!';

SELECT count(*) FROM users WHERE username SIMILAR TO 'user_%1';

SELECT count(*) FROM users WHERE username ~ '^user_0[0-9]+$';

SELECT count(*) FROM users WHERE email ILIKE '%@example.DE';

SELECT count(*) FROM users WHERE username BETWEEN 'a' AND 'c';

SELECT count(*) FROM users WHERE 'abc' < username;

SELECT count(*) FROM users WHERE username = 'alice' COLLATE "C";

SELECT count(*) FROM users WHERE username || '' = 'bob';

SELECT count(*) FROM users WHERE 'a' = 'a' AND username = 'bob';

SELECT count(*) FROM users WHERE CASE WHEN karma > 10 THEN 'high' ELSE 'low' END = 'high';

SELECT count(*) FROM users WHERE lower(username) = lower('ALICE');

SELECT count(*) FROM users WHERE upper(username::text) = upper('Émile');

SELECT count(*) FROM users WHERE upper(email::text) LIKE upper('%example.DE');

SELECT count(*) FROM users WHERE username = concat('ali', 'ce');

SELECT count(*) FROM users WHERE length('abc') = 3 AND username = 'bob';

SELECT count(*) FROM users WHERE display_name IS DISTINCT FROM 'x';

SELECT count(*) FROM users WHERE preferences ->> 'lang' = 'de';

SELECT count(*) FROM users WHERE preferences @> '{"theme": "dark"}';

SELECT count(*) FROM users WHERE favorite_numbers = '{}' OR favorite_numbers @> '{7}';

SELECT count(*) FROM users WHERE country_code = ANY ('{DE,FR}');

SELECT count(*) FROM users WHERE balance > '100.50';

SELECT count(*) FROM users WHERE karma > '-5';

SELECT count(*) FROM users WHERE signup_date >= '2023-01-01' AND signup_date < date '2024-01-01';

SELECT count(*) FROM posts WHERE created_at > timestamptz '2023-06-01 00:00+00' - '30 days'::interval;

SELECT count(*) FROM posts WHERE created_at < '2023-06-01 12:00';

-- A string cast to a type with modifiers is read with them: a day here, not a second.
SELECT count(*) FROM posts WHERE created_at > timestamptz '2023-06-01 00:00+00' - interval '200' day;

SELECT count(*) FROM posts WHERE created_at - '2023-01-01 00:00+00' > CAST('150' AS interval day);

SELECT count(*) FROM posts WHERE created_at > timestamptz '2023-06-01 00:00+00' - '200 days'::interval;

SELECT count(*) FROM posts WHERE tags && '{sql,postgres}';

SELECT count(*) FROM posts WHERE 'sql' = ANY (tags);

SELECT count(*) FROM users u JOIN posts p ON p.username = u.username WHERE u.username = 'alice' AND p.title <> '';

SELECT name FROM countries WHERE code = 'DE';

SELECT count(*) FROM users WHERE username = 'zoë' AND signup_date IS NOT NULL;

SELECT username::varchar(3) AS short FROM users WHERE username::varchar(3) = 'ali' ORDER BY 1;

INSERT INTO users (username, display_name, email, country_code, karma, balance) VALUES ('new''user', 'New User', 'n@example.com', 'DE', '5', '12.50');

UPDATE users SET display_name = 'Renamed', country_code = 'FR' WHERE username = 'new''user';

UPDATE users SET preferences = '{"lang": "fr"}', signup_date = '2024-02-29' WHERE username = 'bob';

INSERT INTO posts (username, post_id, title, created_at, tags) VALUES ('alice', 9999, 'Hello', '2024-02-29 10:00+00', '{a,b}');

UPDATE posts SET title = title || ' again', tags = tags || '{c}' WHERE username = 'alice' AND post_id = 9999;

DELETE FROM posts WHERE username = 'alice' AND title = 'Hello again';

DELETE FROM users WHERE username = 'new''user';
