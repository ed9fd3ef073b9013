// CloudFront Function (viewer request) of the site distribution: a URL ending in "/" asks
// for that directory's index.html. Apache would answer such a URL itself, but the fallback
// copy in S3 has only the objects: without this, "/" would miss there while the server is
// away. Query strings and every other URL pass through unchanged.
function handler(event) {
  var request = event.request;
  if (request.uri.endsWith("/")) {
    request.uri += "index.html";
  }
  return request;
}
