using System.Runtime.InteropServices;
using System.Text;

namespace PgVault.Engine.Restore;

/// <summary>
/// Hands a checked segment of the spool to PostgreSQL without a process start: a hard link to it in <c>pg_wal</c> under
/// its own name. The <c>restore_command</c> (<see cref="WalSpoolCommand"/>) then finds <c>pg_wal/%f</c> to be the very
/// file of the spool (<c>[ A -ef B ]</c>, a shell builtin), says "not in the archive" (exit 1), and PostgreSQL reads the
/// segment from <c>pg_wal</c>, which it always does after the archive: no <c>mv</c> runs. Anything else in <c>pg_wal</c>
/// under that name (a segment PostgreSQL recycled there) is another file, and the shell moves the spool's copy as before.
/// </summary>
internal static class WalHandover
{
    /// <summary>Suffix of the shell's note that PostgreSQL takes a segment from its link in <c>pg_wal</c>.</summary>
    public const string TakenSuffix = ".taken";

    /// <summary>
    /// Links <paramref name="spooled"/> (a checked segment in the spool) as <paramref name="walDirectory"/>/name, replacing
    /// whatever is there (a recycled segment: never a file PostgreSQL reads as this segment without asking first), and
    /// marks it archived (<c>archive_status/name.done</c>, as PostgreSQL marks a segment it restored). False when links
    /// are not possible here (the caller hands the file over by the shell's <c>mv</c> then).
    /// </summary>
    public static bool Place(string spooled, string walDirectory)
    {
        if (!OperatingSystem.IsLinux())
            return false;
        var name = Path.GetFileName(spooled);
        var temp = spooled + ".pgvault-tmp-link";
        File.Delete(temp);
        if (NativeMethods.Link(Bytes(spooled), Bytes(temp)) != 0)
            return false; // EPERM, EXDEV, a filesystem without hard links
        try
        {
            var status = Path.Combine(walDirectory, "archive_status");
            if (Directory.Exists(status))
                File.WriteAllBytes(Path.Combine(status, name + ".done"), []);
            File.Move(temp, Path.Combine(walDirectory, name), overwrite: true);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            File.Delete(temp);
            return false;
        }
    }

    /// <summary>
    /// Removes the link of <paramref name="spooled"/> from <paramref name="walDirectory"/> (and its <c>.done</c>) if it is
    /// still that file: a segment placed ahead that recovery did not take (past its end, another timeline).
    /// </summary>
    public static void Unplace(string spooled, string walDirectory)
    {
        var name = Path.GetFileName(spooled);
        var placed = Path.Combine(walDirectory, name);
        if (!SameFile(spooled, placed))
            return;
        try
        {
            File.Delete(placed);
            File.Delete(Path.Combine(walDirectory, "archive_status", name + ".done"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // gone already
        }
    }

    /// <summary>Whether both paths are one file (device and inode, as <c>test -ef</c>); false when either is absent.</summary>
    public static bool SameFile(string a, string b) =>
        OperatingSystem.IsLinux() && Identity(a) is { } x && Identity(b) is { } y && x == y;

    private static (uint Major, uint Minor, ulong Inode)? Identity(string path)
    {
        var buffer = new byte[256];
        // statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO): stx_ino at 32, stx_dev_major/minor at 136/140.
        if (NativeMethods.Statx(-100, Bytes(path), 0x100, 0x100, buffer) != 0)
            return null;
        return (BitConverter.ToUInt32(buffer, 136), BitConverter.ToUInt32(buffer, 140), BitConverter.ToUInt64(buffer, 32));
    }

    private static byte[] Bytes(string path) => Encoding.UTF8.GetBytes(path + "\0");

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "link", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Link(byte[] existing, byte[] created);

        [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Statx(int dirfd, byte[] path, int flags, uint mask, byte[] buffer);
    }
}
