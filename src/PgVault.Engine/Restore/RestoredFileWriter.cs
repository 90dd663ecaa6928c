using Microsoft.Extensions.Logging;
using PgVault.Engine.Storage;

namespace PgVault.Engine.Restore;

/// <summary>
/// Writes the files of a restore, with direct I/O where the filesystem allows it (see <see cref="DirectIoWriter"/>):
/// every file from its first byte, its last partial 4 KiB block through the page cache.
/// </summary>
internal sealed class RestoredFileWriter(ILogger logger, bool directIo)
{
    private readonly DirectIoWriter _writer = new(logger, directIo, "restore");

    /// <summary>Whether files are (still) written with direct I/O.</summary>
    public bool DirectIo => _writer.DirectIo;

    /// <summary>
    /// Creates <paramref name="path"/> with <paramref name="data"/>'s bytes. The file must not exist: it is created
    /// exclusively (<c>O_CREAT|O_EXCL</c>), so a link planted at the path is never followed.
    /// </summary>
    public async Task WriteAsync(string path, Stream? data, UnixFileMode mode, CancellationToken ct)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, BufferSize = 0 };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = mode;
        // The stream only opens the file (with its mode): the writes go to its handle at explicit offsets.
        var file = new FileStream(path, options);
        await using var fileDisposal = file.ConfigureAwait(false);
        if (data is not null)
            await _writer.WriteAsync(file.SafeFileHandle, path, data, smallBuffered: false, ct).ConfigureAwait(false);
    }
}
