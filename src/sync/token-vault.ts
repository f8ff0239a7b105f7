import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ProxyError } from '../model/errors.js';
import type { AccountId } from '../model/types.js';
import { derive, SCRYPT_COST } from './password-hash.js';

/** What `account login` obtained for an OAuth2 account: kept only encrypted. */
export interface StoredGrant {
  refreshToken: string;
  /** The scopes the provider granted, as it said them. */
  scope?: string;
  obtainedAt: number;
}

/** The file: scrypt's parameters and salt, AES-256-GCM's nonce and tag, the sealed grant (all base64). */
interface VaultFile {
  v: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  iv: string;
  tag: string;
  data: string;
}

/** Where an account's vault is: one file per upstream account, beside the cache. */
export function vaultPath(dataDir: string, id: AccountId): string {
  return join(dataDir, 'oauth', `${id}.json`);
}

/**
 * An account's refresh token, sealed with a key derived (scrypt) from the account's local
 * password: nothing on disk is usable without that password. An opened vault keeps the key in
 * memory, to seal the new refresh token when the provider rotates it.
 */
export class TokenVault {
  private constructor(
    readonly path: string,
    private readonly kdf: VaultFile['kdf'],
    private readonly key: Buffer,
    private current: StoredGrant,
  ) {}

  get grant(): StoredGrant {
    return this.current;
  }

  /** A new vault for a new password (a fresh salt): replaces what was there. */
  static async create(path: string, password: string, grant: StoredGrant): Promise<TokenVault> {
    const kdf = { name: 'scrypt' as const, ...SCRYPT_COST, salt: randomBytes(16).toString('base64') };
    const vault = new TokenVault(path, kdf, await keyOf(password, kdf), grant);
    await vault.save(grant);
    return vault;
  }

  /** Opens the vault with the local password; a wrong one is refused as a failed login. */
  static async open(path: string, password: string): Promise<TokenVault> {
    const file = await readVault(path);
    const key = await keyOf(password, file.kdf);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.iv, 'base64'));
      decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(file.data, 'base64')), decipher.final()]);
      return new TokenVault(path, file.kdf, key, JSON.parse(plain.toString('utf8')) as StoredGrant);
    } catch {
      throw new ProxyError('UPSTREAM_AUTH_FAILED', 'wrong local password: the token vault does not open with it');
    }
  }

  /** Seals a grant (a new nonce each time) and replaces the file atomically, readable by its owner only. */
  async save(grant: StoredGrant): Promise<void> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(grant), 'utf8'), cipher.final()]);
    const file: VaultFile = { v: 1, kdf: this.kdf, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.tmp`;
    await writeFile(temporary, JSON.stringify(file), { mode: 0o600 });
    await rename(temporary, this.path);
    this.current = grant;
  }
}

function keyOf(password: string, kdf: VaultFile['kdf']): Promise<Buffer> {
  return derive(password, Buffer.from(kdf.salt, 'base64'), kdf.N, kdf.r, kdf.p);
}

async function readVault(path: string): Promise<VaultFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ProxyError('INTERNAL', `cannot read the token vault ${path}`, { cause: err });
    throw new ProxyError('UPSTREAM_TOKEN_REFUSED', 'no tokens stored for this account', { context: { path } });
  }
  const file = JSON.parse(text) as VaultFile;
  if (file.v !== 1 || file.kdf?.name !== 'scrypt') throw new ProxyError('INTERNAL', `the token vault ${path} has a format this version does not know`);
  return file;
}
