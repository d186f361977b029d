/** The registry's auth challenges, token URLs and answers, and the token cache, on literal values. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenCache, basicAuthorization, parseTokenAnswer, parseWwwAuthenticate, repositoryScope, tokenUrl } from '../../src/images/registry-auth.js';
import { registryMessage } from '../../src/images/registry-http.js';

describe('parseWwwAuthenticate', () => {
  it('reads a Bearer challenge whose quoted scope holds a comma', () => {
    assert.deepEqual(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/python:pull,push"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/python:pull,push' } },
    ]);
  });
  it('reads Basic, unquoted values, spaces, escapes and two challenges in one value', () => {
    assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry \\"Realm\\""'), [{ scheme: 'basic', params: { realm: 'Registry "Realm"' } }]);
    assert.deepEqual(parseWwwAuthenticate('Bearer realm = "http://127.0.0.1:1/t" , service=reg, Basic realm=x'), [
      { scheme: 'bearer', params: { realm: 'http://127.0.0.1:1/t', service: 'reg' } },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    assert.deepEqual(parseWwwAuthenticate(''), []);
  });
});

describe('token URL and answer', () => {
  it('puts service and our scopes on the realm', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="http://127.0.0.1:9/token?x=1",service="my registry",scope="repository:a:pull"');
    const url = tokenUrl(c!, [repositoryScope('a/b', true)]);
    assert.equal(url.href, 'http://127.0.0.1:9/token?x=1&service=my+registry&scope=repository%3Aa%2Fb%3Apull%2Cpush');
    assert.equal(repositoryScope('x', false), 'repository:x:pull');
    assert.throws(() => tokenUrl({ scheme: 'bearer', params: {} }, []), /no realm/);
  });
  it('takes token or access_token, and expires_in with 60 s as the default', () => {
    assert.deepEqual(parseTokenAnswer({ token: 't', expires_in: 300 }), { token: 't', expiresIn: 300 });
    assert.deepEqual(parseTokenAnswer({ access_token: 'a' }), { token: 'a', expiresIn: 60 });
    assert.deepEqual(parseTokenAnswer({ token: '', access_token: 'a', expires_in: -3 }), { token: 'a', expiresIn: 60 });
    assert.equal(parseTokenAnswer({}), undefined);
    assert.equal(parseTokenAnswer('x'), undefined);
  });
  it('Basic is base64 of user:password', () => {
    assert.equal(basicAuthorization('user', 'pa:ss'), `Basic ${Buffer.from('user:pa:ss').toString('base64')}`);
  });
  it('quotes errors[0].message on one line', () => {
    assert.equal(registryMessage('{"errors":[{"code":"DENIED","message":"no\\n  way"},{"message":"other"}]}'), 'no way');
    assert.equal(registryMessage('<html>\n 502 </html>'), '<html> 502 </html>');
    assert.equal(registryMessage(''), '(no message)');
  });
});

describe('TokenCache', () => {
  it('keys by registry and scope and drops a token shortly before it expires', () => {
    const cache = new TokenCache();
    cache.set('r:1', 'repository:a:pull', { token: 'T', expiresIn: 300 }, 1_000_000);
    assert.equal(cache.get('r:1', 'repository:a:pull', 1_000_000), 'T');
    assert.equal(cache.get('r:1', 'repository:a:pull,push', 1_000_000), undefined);
    assert.equal(cache.get('r:2', 'repository:a:pull', 1_000_000), undefined);
    assert.equal(cache.get('r:1', 'repository:a:pull', 1_000_000 + 289_999), 'T');
    assert.equal(cache.get('r:1', 'repository:a:pull', 1_000_000 + 290_000), undefined);
    cache.set('r:1', 's', { token: 'U', expiresIn: 20 }, 0);
    assert.equal(cache.get('r:1', 's', 17_999), 'U');
    assert.equal(cache.get('r:1', 's', 18_000), undefined);
    cache.set('r:1', 's', { token: 'V', expiresIn: 20 }, 0);
    cache.delete('r:1', 's');
    assert.equal(cache.get('r:1', 's', 0), undefined);
  });
});
