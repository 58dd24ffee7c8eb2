import { describe, expect, it } from 'vitest';
import { signSigV4 } from '../../../functions/lib/prometheus/sigv4.js';

// The AWS Signature Version 4 test suite: https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html
const EXAMPLE = {
  region: 'us-east-1',
  service: 'service',
  credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
};
const DATE = new Date('2015-08-30T12:36:00Z');

describe('signSigV4', () => {
  it("matches the suite's get-vanilla signature", async () => {
    const headers = await signSigV4(
      {
        protocol: 'https:',
        hostname: 'example.amazonaws.com',
        port: undefined,
        path: '/',
        query: {},
        headers: { host: 'example.amazonaws.com' },
      },
      EXAMPLE,
      DATE,
    );
    expect(headers).toEqual({
      'x-amz-date': '20150830T123600Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  it('matches get-vanilla-query-order-key-case (the query is sorted)', async () => {
    const headers = await signSigV4(
      {
        protocol: 'https:',
        hostname: 'example.amazonaws.com',
        port: undefined,
        path: '/',
        query: { Param2: 'value2', Param1: 'value1' },
        headers: { host: 'example.amazonaws.com' },
      },
      EXAMPLE,
      DATE,
    );
    expect(headers.authorization).toMatch(
      /Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/,
    );
  });
});
