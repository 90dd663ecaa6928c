#!/usr/bin/env node
// The S3-protocol server the PgVault tests run on loopback: s3rver 3.7.1 (npm, pinned in package.json), with the few
// S3 operations PgVault relies on that s3rver 3.7.1 lacks added here, each as real S3 documents it:
//   * Content-MD5 on PUT object / UploadPart is verified (400 BadDigest on mismatch, 400 InvalidDigest when malformed),
//     and the body is then stored with that md5 without hashing it again (s3rver hashed every body twice, and a
//     completed multipart upload a third time);
//   * ListMultipartUploads (GET /{bucket}?uploads[&prefix=]) and AbortMultipartUpload (DELETE /{bucket}/{key}?uploadId=);
//   * PUT object writes a temporary file and renames it, so a reader never sees a half-written object (s3rver writes in
//     place and answers before the file is closed);
//   * listings come in key order (s3rver lists in directory order);
//   * completing an upload that is gone answers 404 NoSuchUpload;
//   * the multipart ETag is S3's: md5(concatenated part md5s) + "-" + number of parts (s3rver gives the whole md5);
//   * a ranged GET of an empty object answers 416 InvalidRange (s3rver promises one byte it does not send).
// Usage: node s3-server.js --directory DIR --port N [--bucket NAME]... [--key KEY.pem --cert CERT.pem]
// Prints "listening <port>" once ready. With --key and --cert it serves HTTPS (bench/: pgBackRest speaks S3 only over TLS).
'use strict';

const crypto = require('crypto');
const fs = require('fs-extra');
const path = require('path');
const { PassThrough, Transform } = require('stream');
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Error = require('s3rver/lib/models/error');
const S3Object = require('s3rver/lib/models/object');
const { concatStreams, walk } = require('s3rver/lib/utils');
const { zip } = require('lodash');

const args = process.argv.slice(2);
const option = name => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const directory = option('--directory');
const port = Number(option('--port') || 0);
const buckets = args.flatMap((a, i) => (a === '--bucket' ? [args[i + 1]] : []));
const keyFile = option('--key');
const certFile = option('--cert');
if (!directory || !keyFile !== !certFile) {
  console.error('usage: s3-server.js --directory DIR [--port N] [--bucket NAME]... [--key KEY.pem --cert CERT.pem]');
  process.exit(2);
}

// One key's metadata (ETag, length) and content change together: a PUT swaps both, and a GET reads the metadata and
// opens the file, under a per-key lock (a reader never pairs the old ETag with the new content).
const locks = new Map();
async function withKeyLock(id, fn) {
  const previous = locks.get(id) || Promise.resolve();
  let release;
  const current = new Promise(resolve => (release = resolve));
  const chained = previous.then(() => current);
  locks.set(id, chained);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(id) === chained) locks.delete(id);
  }
}

// A ranged GET of an empty object is not satisfiable (S3 answers 416 InvalidRange); s3rver answers 206 "bytes 0-0/0"
// with a Content-Length of 1 and no body.
const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = function (bucket, key, options) {
  return withKeyLock(`${bucket}/${key}`, async () => {
    const object = await getObject.call(this, bucket, key, options);
    if (object && object.range && object.content && object.size === 0) {
      object.content.destroy();
      object.content = null;
    }
    return object;
  });
};

// Atomic PUT: the content goes to a temporary file beside the object, renamed once closed.
FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdirp(path.dirname(objectPath));
  const temp = `${objectPath}.tmp-${crypto.randomBytes(8).toString('hex')}`;
  const md5 = crypto.createHash('md5');
  const verified = object.content && object.content.verifiedMd5;
  let size = 0;
  try {
    await new Promise((resolve, reject) => {
      const out = fs.createWriteStream(temp);
      out.on('error', reject).on('close', resolve);
      // A completed multipart upload's ETag comes from its parts' md5s, and a body checked against its Content-MD5
      // has its md5: neither is hashed again.
      const hash = !object.multipartEtag && !verified;
      const buffer = Buffer.isBuffer(object.content) ? object.content : verified && object.content.verifiedBody;
      if (buffer) {
        if (hash) md5.update(buffer);
        size = buffer.length;
        out.end(buffer);
        return;
      }
      object.content
        .on('error', reject)
        .pipe(new Transform({
          transform(chunk, encoding, callback) {
            if (hash) md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }))
        .on('error', reject)
        .pipe(out);
    });
    const digest = object.multipartEtag || verified || md5.digest('hex');
    await withKeyLock(`${object.bucket}/${object.key}`, async () => {
      await this.putMetadata(object.bucket, object.key, object.metadata, digest);
      await fs.rename(temp, objectPath);
    });
    return { size, md5: digest };
  } catch (err) {
    await fs.remove(temp);
    throw err;
  }
};

// A part whose body was checked against its Content-MD5 is written as it is, with that md5 (s3rver would hash it again).
const putPart = FilesystemStore.prototype.putPart;
FilesystemStore.prototype.putPart = async function (bucket, uploadId, partNumber, content) {
  if (!content || !content.verifiedBody) return putPart.call(this, bucket, uploadId, partNumber, content);
  const partPath = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
  await fs.mkdirp(path.dirname(partPath));
  await fs.writeFile(partPath, content.verifiedBody);
  await fs.writeFile(`${partPath}.md5`, content.verifiedMd5);
  return { size: content.verifiedBody.length, md5: content.verifiedMd5 };
};

// S3's multipart ETag: md5 of the parts' binary md5s, "-", the number of parts.
FilesystemStore.prototype.putObjectMultipart = async function putObjectMultipart(bucket, uploadId, parts) {
  const uploadDir = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  if (!(await fs.pathExists(path.join(uploadDir, 'key')))) {
    // Completed (or aborted) already: S3 answers 404 NoSuchUpload (s3rver fails with a 500).
    throw new S3Error('NoSuchUpload', 'The specified upload does not exist.');
  }
  const [key, metadata] = await Promise.all([
    fs.readFile(path.join(uploadDir, 'key'), 'utf8'),
    fs.readFile(path.join(uploadDir, 'metadata'), 'utf8').then(JSON.parse),
  ]);
  const sorted = [...parts].sort((a, b) => a.number - b.number);
  const digests = await Promise.all(sorted.map(p => fs.readFile(path.join(uploadDir, `${p.number}.md5`), 'utf8')));
  sorted.forEach((p, i) => {
    if (p.etag !== digests[i]) throw new S3Error('InvalidPart', `part ${p.number}: the ETag does not match the uploaded part`);
  });
  const etag = crypto.createHash('md5').update(Buffer.concat(digests.map(d => Buffer.from(d, 'hex')))).digest('hex') +
    `-${sorted.length}`;
  const content = concatStreams(sorted.map(p => fs.createReadStream(path.join(uploadDir, String(p.number)))));
  const object = Object.assign(new S3Object(bucket, key, content, metadata), { multipartEtag: etag });
  const result = await this.putObject(object);
  await fs.remove(uploadDir);
  return result;
};

// Listings in key order, as S3 gives them (s3rver walks directories in readdir order, and pages over that order).
FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
  const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
  const bucketPath = this.getBucketPath(bucket);
  const prefixPath = `${bucketPath}/${prefix}`;
  const suffix = '._S3rver_object';
  const all = [];
  for (const keyPath of walk(bucketPath, dir => dir.startsWith(prefixPath) || prefixPath.startsWith(`${dir}/`))) {
    if (!keyPath.endsWith(suffix)) continue;
    const key = keyPath.slice(bucketPath.length + 1, -suffix.length);
    if (key > startAfter && key.startsWith(prefix)) all.push(key);
  }
  all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const commonPrefixes = new Set();
  const keys = [];
  let isTruncated = false;
  for (const key of all) {
    if (delimiter) {
      const idx = key.slice(prefix.length).indexOf(delimiter);
      if (idx !== -1) {
        commonPrefixes.add(key.slice(0, prefix.length + idx + 1));
        continue;
      }
    }
    if (keys.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    keys.push(key);
  }
  const metadata = await Promise.all(keys.map(key => this.getMetadata(bucket, key).catch(err => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  })));
  return {
    objects: zip(keys, metadata).filter(([, m]) => m !== undefined).map(([key, m]) => new S3Object(bucket, key, null, m)),
    commonPrefixes: [...commonPrefixes].sort(),
    isTruncated,
  };
};

const xml = body => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
const escape = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const error = (ctx, status, code, message) => {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = xml(`<Error><Code>${code}</Code><Message>${escape(message)}</Message></Error>`);
};

async function listUploads(store, bucket, prefix) {
  const dir = store.getResourcePath(bucket, undefined, 'uploads');
  let ids = [];
  try {
    ids = await fs.readdir(dir);
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  const uploads = [];
  for (const id of ids) {
    try {
      const key = await fs.readFile(path.join(dir, id, 'key'), 'utf8');
      const stat = await fs.stat(path.join(dir, id, 'key'));
      if (key.startsWith(prefix)) uploads.push({ id, key, initiated: stat.mtime });
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;   // completed or aborted meanwhile
    }
  }
  uploads.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
  return uploads;
}

async function extensions(ctx, next) {
  const url = new URL(ctx.url, 'http://localhost');
  const [, bucket, ...rest] = url.pathname.split('/');
  const key = decodeURIComponent(rest.join('/'));
  const store = ctx.app.store;

  if (ctx.method === 'GET' && bucket && !key && url.searchParams.has('uploads')) {
    const prefix = url.searchParams.get('prefix') || '';
    const uploads = await listUploads(store, bucket, prefix);
    ctx.type = 'application/xml';
    ctx.body = xml('<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${escape(bucket)}</Bucket><Prefix>${escape(prefix)}</Prefix><MaxUploads>1000</MaxUploads>` +
      '<IsTruncated>false</IsTruncated>' +
      uploads.map(u => `<Upload><Key>${escape(u.key)}</Key><UploadId>${u.id}</UploadId>` +
        `<Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`).join('') +
      '</ListMultipartUploadsResult>');
    return;
  }

  if (ctx.method === 'DELETE' && bucket && key && url.searchParams.has('uploadId')) {
    const id = url.searchParams.get('uploadId');
    const dir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), id);
    if (!/^[0-9a-f]+$/.test(id) || !(await fs.pathExists(dir))) {
      error(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
      return;
    }
    await fs.remove(dir);
    ctx.status = 204;
    return;
  }

  const contentMd5 = ctx.get('Content-MD5');
  if (ctx.method === 'PUT' && key && contentMd5 && !('x-amz-copy-source' in ctx.headers)) {
    const expected = Buffer.from(contentMd5, 'base64');
    if (expected.length !== 16) {
      error(ctx, 400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
      return;
    }
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    if (!crypto.createHash('md5').update(body).digest().equals(expected)) {
      error(ctx, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
      return;
    }
    // Hand the verified body on as the request stream s3rver reads (headers stay as they were), with its md5: the
    // stores below write it without hashing it again.
    const replay = new PassThrough();
    replay.headers = ctx.req.headers;
    replay.verifiedBody = body;
    replay.verifiedMd5 = expected.toString('hex');
    replay.end(body);
    ctx.req = replay;
  }

  await next();
}

(async () => {
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    directory,
    silent: true,
    allowMismatchedSignatures: true,
    vhostBuckets: false,
    configureBuckets: buckets.map(name => ({ name })),
    ...(keyFile ? { key: fs.readFileSync(keyFile), cert: fs.readFileSync(certFile) } : {}),
  });
  server.middleware.unshift(extensions);
  const { port: actual } = await server.run();
  process.stdout.write(`listening ${actual}\n`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The test fixture holds our stdin: when it goes away (even killed), so do we.
  process.stdin.on('end', stop).on('error', stop).resume();
})().catch(err => {
  console.error(err);
  process.exit(1);
});
