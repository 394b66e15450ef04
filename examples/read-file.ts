/**
 * Read a file from an image without unpacking it, through the union view.
 *
 *   npx tsx examples/read-file.ts IMAGE PATH     (IMAGE: oci:DIR:TAG, docker-archive:FILE, store:NAME)
 */
import { isImageIndex, openImage, UnionView } from "../src/index.js";

const [spec = "oci:examples-out/layout:assembled", file = "/app/config.json"] = process.argv.slice(2);
let image = await openImage(spec);
if (isImageIndex(image)) image = await image.image("linux/amd64");
const view = await UnionView.open(image);
const st = await view.stat(file);
console.log(`${file}: ${st.size} bytes, mode ${(st.mode & 0o7777).toString(8)}`);
process.stdout.write(Buffer.from(await view.readFile(file)));
