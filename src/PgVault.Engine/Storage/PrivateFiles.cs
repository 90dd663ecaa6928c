using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;
using PgVault.Errors;

namespace PgVault.Engine.Storage;

/// <summary>
/// Files and directories only PgVault's OS user may touch: directories created with mode 0700 and checked (without
/// following links) to be real directories this user owns, files created exclusively (<c>O_CREAT|O_EXCL</c>, which
/// never follows a link) with mode 0600. Used where a path could be reached by another local user.
/// </summary>
public static class PrivateFiles
{
    /// <summary>rwx for the owner only.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw for the owner only.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>rw for the owner, r for the group.</summary>
    public const UnixFileMode GroupFileMode = FileMode | UnixFileMode.GroupRead;

    /// <summary>rwx for the owner, rx for the group.</summary>
    public const UnixFileMode GroupDirectoryMode = DirectoryMode | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    /// <summary>The modes of the files and directories PgVault writes: owner only, or with read access for the group.</summary>
    public static (UnixFileMode File, UnixFileMode Directory) Modes(bool groupAccess) =>
        groupAccess ? (GroupFileMode, GroupDirectoryMode) : (FileMode, DirectoryMode);

    /// <summary>
    /// Takes away the permissions beyond <see cref="Modes"/> from <paramref name="root"/> and everything below it
    /// (links are neither followed nor changed; set-group-ID and sticky bits are kept). Returns how many were changed.
    /// </summary>
    public static int Tighten(string root, bool groupAccess)
    {
        if (OperatingSystem.IsWindows())
            return 0;
        var (fileMode, directoryMode) = Modes(groupAccess);
        const UnixFileMode Permissions = (UnixFileMode)0x1FF;
        var changed = 0;
        var pending = new Stack<string>();
        pending.Push(Path.GetFullPath(root));
        while (pending.TryPop(out var path))
        {
            if (LStat(path) is not { IsLink: false } s)
                continue;
            var allowed = s.IsDirectory ? directoryMode : fileMode;
            var excess = s.Mode & Permissions & ~allowed;
            if (excess != UnixFileMode.None)
            {
                File.SetUnixFileMode(path, s.Mode & ~excess);
                changed++;
            }

            if (s.IsDirectory)
            {
                foreach (var child in Directory.EnumerateFileSystemEntries(path))
                    pending.Push(child);
            }
        }

        return changed;
    }

    /// <summary>Creates <paramref name="path"/> and its missing parents with mode <paramref name="mode"/>.</summary>
    public static void CreateDirectories(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        var missing = new Stack<string>();
        for (var d = Path.GetFullPath(path); !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
            missing.Push(d);
        while (missing.TryPop(out var d))
            Directory.CreateDirectory(d, mode);
    }

    /// <summary>What <c>lstat</c> says of a path: null when nothing is there.</summary>
    public sealed record Status(uint Uid, uint Gid, UnixFileMode Mode, bool IsDirectory, bool IsLink, bool IsRegularFile);

    /// <summary>The effective user id of this process (0 on systems without one).</summary>
    public static uint EffectiveUid => OperatingSystem.IsLinux() ? NativeMethods.Geteuid() : 0;

    /// <summary>The path's owner, permissions and type, the path itself when it is a symbolic link (<c>lstat</c>); null when absent.</summary>
    public static Status? LStat(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            if (!info.Exists && !Directory.Exists(path) && info.LinkTarget is null)
                return null;
            return new Status(0, 0, default, Directory.Exists(path), info.LinkTarget is not null, info.Exists);
        }

        var buffer = new byte[256];
        var bytes = Encoding.UTF8.GetBytes(path + "\0");
        // statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE|STATX_MODE|STATX_UID|STATX_GID): one layout on every architecture.
        if (NativeMethods.Statx(-100, bytes, 0x100, 0x1 | 0x2 | 0x8 | 0x10, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) // ENOENT, ENOTDIR
                return null;
            throw new IOException($"unable to inspect '{path}': {new Win32Exception(errno).Message}", errno);
        }

        var uid = BitConverter.ToUInt32(buffer, 20);
        var gid = BitConverter.ToUInt32(buffer, 24);
        var mode = BitConverter.ToUInt16(buffer, 28);
        var type = mode & 0xF000;
        return new Status(uid, gid, (UnixFileMode)(mode & 0xFFF), type == 0x4000, type == 0xA000, type == 0x8000);
    }

    /// <summary>
    /// Creates <paramref name="path"/> with mode 0700 if it is absent (its parent must exist) and checks that it is a real
    /// directory (not a link), owned by this user, with no permissions for group or others, in a parent that no other
    /// user can rename it out of (owned by this user or root, and not writable by others unless sticky). A directory of
    /// this user that others could read but not write is made 0700.
    /// Throws <see cref="PgVaultException"/> when the check fails: the directory is not PgVault's own.
    /// </summary>
    public static string EnsurePrivateDirectory(string path, string what)
    {
        var full = Path.GetFullPath(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(full);
            return full;
        }

        if (LStat(full) is null)
        {
            try
            {
                Directory.CreateDirectory(full, DirectoryMode);
            }
            catch (IOException) when (LStat(full) is not null)
            {
                // created meanwhile: checked below like any existing one
            }
        }

        CheckPrivateDirectory(full, what);
        return full;
    }

    /// <summary>Throws unless <paramref name="path"/> is a private directory of this user (see <see cref="EnsurePrivateDirectory"/>).</summary>
    public static void CheckPrivateDirectory(string path, string what)
    {
        if (OperatingSystem.IsWindows())
            return;
        var full = Path.GetFullPath(path);
        var me = EffectiveUid;
        var s = LStat(full) ?? throw Refused(what, full, "it does not exist");
        if (s.IsLink || !s.IsDirectory)
            throw Refused(what, full, "it is not a directory (a symbolic link or a file)");
        if (s.Uid != me)
            throw Refused(what, full, $"it is owned by uid {s.Uid}, not by this user (uid {me})");
        if ((s.Mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != UnixFileMode.None)
            throw Refused(what, full, $"its mode {Octal(s.Mode)} lets other users write in it");
        if ((s.Mode & ~DirectoryMode) != UnixFileMode.None)
            File.SetUnixFileMode(full, s.Mode & DirectoryMode); // this user's own, nobody else could write: made private
        var parent = Path.GetDirectoryName(full);
        if (parent is not null && LStat(parent) is { } p)
        {
            var othersWrite = (p.Mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != UnixFileMode.None;
            if ((p.Uid != me && p.Uid != 0) || (othersWrite && (p.Mode & UnixFileMode.StickyBit) == UnixFileMode.None))
                throw Refused(what, full, $"its parent directory '{parent}' can be changed by other users");
        }
    }

    /// <summary>Creates <paramref name="path"/> exclusively (it must not exist, not even as a link) with mode 0600, for writing.</summary>
    public static FileStream CreateNew(string path, UnixFileMode mode = FileMode, int bufferSize = 1 << 16, FileOptions options = FileOptions.Asynchronous)
    {
        var fs = new FileStreamOptions
        {
            Mode = System.IO.FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = bufferSize,
            Options = options,
        };
        if (!OperatingSystem.IsWindows())
            fs.UnixCreateMode = mode;
        return new FileStream(path, fs);
    }

    /// <summary>A fresh private directory (mode 0700, random name) under <paramref name="parent"/>, like <c>mkdtemp</c>.</summary>
    public static string CreateTempDirectory(string parent, string prefix)
    {
        for (var attempt = 0; ; attempt++)
        {
            var path = Path.Combine(Path.GetFullPath(parent), prefix + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)));
            if (OperatingSystem.IsWindows())
                return Directory.CreateDirectory(path).FullName;
            // mkdir fails on anything already there (a link included): a new name then.
            var bytes = Encoding.UTF8.GetBytes(path + "\0");
            if (NativeMethods.Mkdir(bytes, 0x1C0) == 0)
            {
                CheckPrivateDirectory(path, "a temporary directory");
                return path;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno != 17 || attempt > 10) // EEXIST
                throw new IOException($"unable to create a temporary directory in '{parent}': {new Win32Exception(errno).Message}", errno);
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode, 8);

    private static PgVaultException Refused(string what, string path, string why) =>
        new(ErrorCode.InvalidConfiguration, $"refusing {what} '{path}': {why}",
            "PgVault uses only directories it created itself (mode 0700, owned by its OS user); remove the directory or fix its owner and mode");

    private static class NativeMethods
    {
        [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Statx(int dirfd, byte[] path, int flags, uint mask, byte[] buffer);

        [DllImport("libc", EntryPoint = "geteuid")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern uint Geteuid();

        [DllImport("libc", EntryPoint = "mkdir", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int Mkdir(byte[] path, uint mode);
    }
}
