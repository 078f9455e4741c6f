import { createHash } from 'crypto';
import { gzipSync } from 'zlib';

/** One part of a MIME multipart document. */
export interface MimePart {
  /** The media type, such as `text/x-shellscript` or `application/node.eks.aws`. */
  readonly contentType: string;
  /** The body, as text; it may hold unresolved CDK tokens in the middle of a line. */
  readonly body: string;
  /**
   * File name of the part (`Content-Disposition: attachment; filename="..."`). cloud-init
   * stores a shell part under this name in `/var/lib/cloud/instance/scripts/`.
   * @default - no Content-Disposition header
   */
  readonly filename?: string;
  /**
   * Send the body gzip-compressed and base64-encoded, as `application/x-gzip`. cloud-init
   * decompresses such a part, finds its real type from its first line (`#!` for a shell
   * script, `#cloud-config`) and keeps its file name; EC2 limits user data to 16 KB.
   * The body must then be free of unresolved tokens.
   * @see https://github.com/canonical/cloud-init/blob/main/cloudinit/user_data.py
   * @default false
   */
  readonly gzip?: boolean;
}

/** Options of {@link buildMultipartMixed}. */
export interface MultipartOptions {
  /**
   * Seed of the boundary; the builder appends a counter until the boundary occurs in no part.
   * @default 'ci-part'
   */
  readonly boundarySeed?: string;
}

/** The rendered document and the boundary it uses. */
export interface MultipartDocument {
  /** The whole document, LF line endings, ending with the closing delimiter. */
  readonly text: string;
  /** The boundary chosen. */
  readonly boundary: string;
}

const EOL = '\n';
const GZIP_TYPE = 'application/x-gzip';
const TOKEN_PLACEHOLDER = /\$\{Token\[[^\]]+\]\}/;

/** The part as it goes on the wire: compressed parts become base64 lines of at most 76 characters. */
function wireForm(part: MimePart): { contentType: string; encoding: string; body: string } {
  if (!part.gzip) return { contentType: part.contentType, encoding: '7bit', body: part.body };
  if (TOKEN_PLACEHOLDER.test(part.body)) {
    throw new Error('buildMultipartMixed: a compressed part cannot hold unresolved tokens');
  }
  const b64 = gzipSync(Buffer.from(part.body, 'ascii'), { level: 9 }).toString('base64');
  return { contentType: GZIP_TYPE, encoding: 'base64', body: b64.replace(/.{1,76}/g, '$&\n') };
}
const TOKEN_SAFE_FILENAME = /^[A-Za-z0-9._-]+$/;
const CONTENT_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

/**
 * Picks a boundary that occurs in no part. The candidate is derived from the parts' content
 * (so a given user data always renders the same), and a counter moves it on until no body
 * contains it, not even in the middle of a line.
 */
export function chooseBoundary(parts: readonly MimePart[], seed = 'ci-part'): string {
  const digest = createHash('sha256');
  for (const p of parts) digest.update(p.contentType).update('\0').update(p.body).update('\0');
  const base = `==${seed}-${digest.digest('hex').slice(0, 24)}`;
  for (let i = 0; i < 1000; i++) {
    const candidate = i === 0 ? `${base}==` : `${base}-${i}==`;
    if (!parts.some((p) => p.body.includes(candidate) || (p.filename ?? '').includes(candidate))) {
      return candidate;
    }
  }
  throw new Error('chooseBoundary: no boundary found that occurs in no part');
}

/**
 * Renders a `multipart/mixed` document (RFC 2046): a `MIME-Version` header, one boundary
 * that occurs in no part, a `Content-Type` on every part, and the closing delimiter.
 * Bodies are sent as they are (7bit, printable US-ASCII). Lines end with LF: cloud-init,
 * nodeadm (Go `mime/multipart`) and Python's `email` parser all accept it, and a shell part
 * then never carries a carriage return into bash.
 *
 * Unresolved CDK tokens are allowed inside bodies: they are replaced at deploy time by the
 * cluster name, endpoint, CA data or CIDR, values that never contain a line break, and the
 * builder only places them after other text on a line, so they cannot form a delimiter line.
 */
export function buildMultipartMixed(
  parts: readonly MimePart[],
  options: MultipartOptions = {},
): MultipartDocument {
  if (parts.length === 0)
    throw new Error('buildMultipartMixed: a multipart document needs at least one part');
  for (const p of parts) {
    if (!CONTENT_TYPE.test(p.contentType)) {
      throw new Error(`buildMultipartMixed: '${p.contentType}' is not a media type`);
    }
    if (p.filename !== undefined && !TOKEN_SAFE_FILENAME.test(p.filename)) {
      throw new Error(
        `buildMultipartMixed: part file name '${p.filename}' must match ${TOKEN_SAFE_FILENAME}`,
      );
    }
    if (/[^\x09\x0a\x0d\x20-\x7e]/.test(p.body)) {
      throw new Error('buildMultipartMixed: a part body holds a byte outside printable US-ASCII');
    }
  }
  const wire = parts.map((p) => ({ ...wireForm(p), filename: p.filename }));
  const boundary = chooseBoundary(
    wire.map((w) => ({ contentType: w.contentType, body: w.body, filename: w.filename })),
    options.boundarySeed,
  );

  const lines: string[] = [
    'MIME-Version: 1.0',
    `Content-Type: multipart/mixed; boundary="${boundary}"`,
    '',
  ];
  for (const w of wire) {
    lines.push(`--${boundary}`);
    lines.push(
      w.encoding === 'base64'
        ? `Content-Type: ${w.contentType}`
        : `Content-Type: ${w.contentType}; charset="us-ascii"`,
    );
    lines.push('MIME-Version: 1.0');
    lines.push(`Content-Transfer-Encoding: ${w.encoding}`);
    if (w.filename !== undefined) {
      lines.push(`Content-Disposition: attachment; filename="${w.filename}"`);
    }
    lines.push('');
    lines.push(w.body.replace(/\r\n/g, EOL).replace(/\n$/, ''));
  }
  lines.push(`--${boundary}--`);
  lines.push('');
  return { text: lines.join(EOL), boundary };
}
