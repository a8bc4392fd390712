// A three-member replica set (docs/deploy.md): run once on db1 with `mongosh --file rs-init.js`.
rs.initiate({
  _id: "rs0",
  members: [
    { _id: 0, host: "db1.sanyuan.internal:27017", priority: 2 },
    { _id: 1, host: "db2.sanyuan.internal:27017", priority: 1 },
    { _id: 2, host: "db3.sanyuan.internal:27017", priority: 1 },
  ],
});
