-- Schema of the differential suite: plain PostgreSQL 15 DDL, loaded into Canopy and into a plain
-- PostgreSQL alike. distribute.sql then makes tables distributed or reference tables on Canopy only.
-- One statement per `;` at the end of a line (the harness splits on that). No foreign keys, sequences,
-- defaults or triggers: every value a query sees comes from data.ts or from the query itself.
--
--   reference tables   countries, plans
--   co-location A      companies, campaigns, ads, clicks        by company_id int, default shard count
--   not co-located     company_notes                            by company_id int, colocate_with 'none'
--   co-location B      devices, events                          by device_id bigint, 8 shards
--   co-location C      users, posts                             by username text, 5 shards
--   local table        holidays                                 stays on the coordinator

-- Reference tables.
CREATE TABLE countries (
    code text PRIMARY KEY,
    name text NOT NULL,
    continent text,
    population bigint,
    gdp_per_capita numeric,
    eu_member boolean
);

CREATE TABLE plans (
    id int PRIMARY KEY,
    name varchar(40) NOT NULL,
    monthly_price numeric(12, 2),
    seats int,
    features text[],
    limits jsonb
);

-- Multi-tenant SaaS: every table carries the tenant key company_id.
CREATE TABLE companies (
    id int PRIMARY KEY,
    name text NOT NULL,
    country_code text,
    plan_id int,
    created_at timestamptz,
    is_active boolean,
    employees int,
    settings jsonb,
    tags text[]
);

CREATE TABLE campaigns (
    company_id int NOT NULL,
    id int NOT NULL,
    name text,
    cost_model varchar(20),
    state varchar(20),
    monthly_budget numeric(12, 2),
    start_date date,
    end_date date,
    target_countries text[],
    created_at timestamp,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE ads (
    company_id int NOT NULL,
    id bigint NOT NULL,
    campaign_id int,
    name text,
    image_url varchar(200),
    impressions_count bigint,
    clicks_count bigint,
    ctr real,
    score double precision,
    created_at timestamptz,
    metadata json,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE clicks (
    company_id int NOT NULL,
    id bigint NOT NULL,
    ad_id bigint,
    clicked_at timestamptz,
    site_url text,
    cost numeric,
    is_bot boolean,
    position int,
    latency_ms real,
    user_data jsonb,
    PRIMARY KEY (company_id, id)
);

CREATE TABLE company_notes (
    company_id int NOT NULL,
    note_id int NOT NULL,
    author text,
    body text,
    created_on date,
    priority smallint,
    PRIMARY KEY (company_id, note_id)
);

-- Real-time analytics, keyed by device.
CREATE TABLE devices (
    device_id bigint PRIMARY KEY,
    owner_company_id int,
    model varchar(30),
    os text,
    registered_on date,
    firmware int[],
    location_country text,
    battery_capacity real,
    device_uuid uuid
);

CREATE TABLE events (
    device_id bigint NOT NULL,
    event_id bigint NOT NULL,
    event_type text,
    event_time timestamptz,
    local_time timestamp,
    value double precision,
    reading real,
    amount numeric,
    payload jsonb,
    tags text[],
    session_uuid uuid,
    is_valid boolean,
    PRIMARY KEY (device_id, event_id)
);

-- Users and their posts, keyed by a text column.
CREATE TABLE users (
    username text PRIMARY KEY,
    display_name text,
    email varchar(100),
    country_code text,
    signup_date date,
    karma int,
    balance numeric(12, 2),
    preferences jsonb,
    favorite_numbers int[],
    device_id bigint,
    last_seen timestamptz
);

CREATE TABLE posts (
    username text NOT NULL,
    post_id int NOT NULL,
    title text,
    body text,
    created_at timestamptz,
    likes int,
    rating numeric,
    tags text[],
    PRIMARY KEY (username, post_id)
);

-- A local table: never distributed.
CREATE TABLE holidays (
    day date PRIMARY KEY,
    name text NOT NULL,
    country_code text
);
