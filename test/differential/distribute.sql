-- Runs on Canopy only, after schema.sql: by default before the data is loaded (the harness then
-- inserts into the distributed tables), with CANOPY_DIFF_DISTRIBUTE=after once the data is in the
-- tables (create_distributed_table then moves the rows to the shards). One statement per `;` at the
-- end of a line.

SELECT create_reference_table('countries');
SELECT create_reference_table('plans');

SELECT create_distributed_table('companies', 'id');
SELECT create_distributed_table('campaigns', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('ads', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('clicks', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('company_notes', 'company_id', colocate_with => 'none');

SELECT create_distributed_table('devices', 'device_id', shard_count => 8);
SELECT create_distributed_table('events', 'device_id', colocate_with => 'devices');

SELECT create_distributed_table('users', 'username', shard_count => 5);
SELECT create_distributed_table('posts', 'username', colocate_with => 'users');

SELECT create_distributed_table('audit_log', 'company_id', colocate_with => 'companies');
SELECT create_distributed_table('tickets', 'id');
SELECT create_reference_table('labels');
