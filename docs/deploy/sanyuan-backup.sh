#!/bin/sh
# Nightly backup (docs/deploy.md): a consistent dump of the whole database from a secondary, and the uploaded
# files. Keeps 30 days. Run by cron as the sanyuan user: 15 1 * * * /opt/sanyuan/docs/deploy/sanyuan-backup.sh
set -eu
: "${SANYUAN_BACKUP_URI:?set SANYUAN_BACKUP_URI, e.g. mongodb://backup:…@db1,db2,db3/?replicaSet=rs0&readPreference=secondary}"
DEST=${SANYUAN_BACKUP_DIR:-/var/backups/sanyuan}
STAMP=$(date +%Y%m%d-%H%M)
mkdir -p "$DEST"
mongodump --uri="$SANYUAN_BACKUP_URI" --oplog --gzip --archive="$DEST/db-$STAMP.archive.gz"
tar -czf "$DEST/files-$STAMP.tar.gz" -C /var/lib/sanyuan files
find "$DEST" -type f -mtime +30 -delete
