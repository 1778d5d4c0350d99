# Homebrew formula: builds tessera from source and offers `brew services start tessera`, which
# runs `tessera serve` for the profiles in ~/.config/tessera/config.toml.
class Tessera < Formula
  desc "Credential agent for IAM Roles Anywhere: X.509 identity in, AWS credentials out"
  homepage "https://github.com/tessera-rs/tessera"
  url "https://github.com/tessera-rs/tessera/archive/refs/tags/v0.1.0.tar.gz"
  # Filled in by the release: shasum -a 256 of the tag's tarball.
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "Apache-2.0"
  head "https://github.com/tessera-rs/tessera.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    generate_completions_from_executable(bin/"tessera", "completions")
    (buildpath/"man").mkpath
    system bin/"tessera", "man", "--dir", buildpath/"man"
    man1.install Dir[buildpath/"man/*.1"]
    pkgshare.install "packaging/config.example.toml", "packaging/anchor.example.toml"
  end

  service do
    run [opt_bin/"tessera", "serve", "--all-profiles"]
    keep_alive true
    log_path var/"log/tessera.log"
    error_log_path var/"log/tessera.log"
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/tessera version")
    # A local CA and a certificate, end to end, offline.
    system bin/"tessera", "ca", "--dir", testpath/"ca", "init"
    system bin/"tessera", "ca", "--dir", testpath/"ca", "issue", "--cn", "brew-test"
    assert_match "CN=brew-test", shell_output("#{bin}/tessera read-certificate-data --certificate #{testpath}/ca/brew-test.pem")
  end
end
