"""Throwaway certificates for the TLS tests, made with the openssl command line: a test CA and
server certificates it signs (EC P-256, valid two days), each for the DNS names given and
127.0.0.1. Files go to a directory the caller owns.
"""
import os
import subprocess


def _run(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class TestCA:
    def __init__(self, directory, name="Shoal Test CA"):
        self.dir = directory
        self.cert = os.path.join(directory, "ca.pem")
        self.key = os.path.join(directory, "ca.key")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", self.key, "-out", self.cert, "-subj", f"/CN={name}", "-days", "2")

    def issue(self, stem, *dns_names, common_name=None):
        """Signs a certificate for `dns_names`; returns (cert path, key path)."""
        key = os.path.join(self.dir, f"{stem}.key")
        csr = os.path.join(self.dir, f"{stem}.csr")
        cert = os.path.join(self.dir, f"{stem}.pem")
        ext = os.path.join(self.dir, f"{stem}.ext")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
             "-out", csr, "-subj", f"/CN={common_name or dns_names[0]}")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join([f"DNS:{n}" for n in dns_names] + ["IP:127.0.0.1"]) + "\n")
        _run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
             "-out", cert, "-days", "2", "-extfile", ext)
        return cert, key

    def combined(self, stem, *dns_names):
        """A certificate and its key in one PEM file (for tls.sni_certificates)."""
        cert, key = self.issue(stem, *dns_names)
        path = os.path.join(self.dir, f"{stem}.combined.pem")
        with open(path, "w") as out, open(cert) as c, open(key) as k:
            out.write(c.read() + k.read())
        return path
