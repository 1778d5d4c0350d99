// Usage: node caller_identity.mjs <imds|container|http|process> <sts endpoint URL> [profile]
// Obtains credentials with the named provider of the AWS SDK for JavaScript v3, calls STS
// GetCallerIdentity at the endpoint, and prints the caller's ARN.
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import { fromContainerMetadata, fromHttp, fromInstanceMetadata, fromProcess } from "@aws-sdk/credential-providers";

const [provider, endpoint, profile] = process.argv.slice(2);
const providers = {
  imds: () => fromInstanceMetadata({ timeout: 2000, maxRetries: 1 }),
  container: () => fromContainerMetadata({ timeout: 2000, maxRetries: 1 }),
  http: () => fromHttp({}),
  process: () => fromProcess({ profile }),
};
if (!providers[provider]) {
  console.error(`unknown provider ${provider}`);
  process.exit(2);
}
const client = new STSClient({ region: "us-east-1", endpoint, credentials: providers[provider]() });
const identity = await client.send(new GetCallerIdentityCommand({}));
console.log(identity.Arn);
