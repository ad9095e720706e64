// The differential suite once more with the rows loaded before the tables are distributed:
// create_distributed_table then moves every kind of value the data holds into the shards (JSON
// nulls beside SQL NULLs, arrays, numerics, collated text), which the default order (distribute,
// then insert through Canopy) never exercises.
process.env.CANOPY_DIFF_DISTRIBUTE = "after";
await import("./differential.test.js");
